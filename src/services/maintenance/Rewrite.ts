import { specialsCount } from "../../domain/SpecialFiles.ts"
import { randomBytes } from "node:crypto"
import { Effect } from "effect"
import type { BackupFilter } from "../../domain/BackupFilter.ts"
import { UserError } from "../../domain/Errors.ts"
import type { BackupStats, FileEntry } from "../../domain/Events.ts"
import { type ExcludeRule, rootPlacesOf, storedPathMatches } from "../../domain/ExcludeRules.ts"
import { EventLog } from "../manifest/EventLog.ts"
import { type BackupRow, Manifest } from "../manifest/Manifest.ts"

/** The label a rewritten backup gets besides its own (restic's `rewrite` adds the same). */
export const rewriteTag = "rewrite"

/** Entries recorded per event, as a backup records them. */
const filesPerEvent = 512

export interface RewrittenBackup {
  readonly id: string
  /** The new backup, or null when nothing in it matched (left as it is) or with --dry-run. */
  readonly newId: string | null
  /** Entries left out (a matching directory counts with everything in it), and their files' bytes. */
  readonly removed: number
  readonly removedBytes: number
  readonly forgotten: boolean
}

export interface RewriteReport {
  readonly dryRun: boolean
  readonly backups: ReadonlyArray<RewrittenBackup>
}

/**
 * restic's `rewrite --exclude`: each selected backup whose entries match `rules` (as restore
 * --exclude matches stored paths) is recorded again without them, as a new backup with the same
 * time, host, paths and labels (plus `rewrite`); with `forget`, the original is forgotten in the
 * same commit. No data is read or stored: the new backup lists the same chunks. `gc` then deletes
 * the chunks no backup references any more; bytes of a left-out file that share a chunk with a
 * kept one (small files are stored together) stay until that chunk goes.
 *
 * A hard link whose first link is left out keeps its own content (every link records its extents)
 * and is restored as a file of its own. A backup that would be left empty is refused, before
 * anything is written: forget it instead.
 */
export const rewriteBackups = Effect.fn("Maintenance.rewrite")(function*(
  select: { readonly ids: ReadonlyArray<string>; readonly filter: BackupFilter },
  rules: ReadonlyArray<ExcludeRule>,
  options: { readonly dryRun: boolean; readonly forget: boolean }
) {
  const manifest = yield* Manifest
  const log = yield* EventLog
  const selected = yield* manifest.selectBackups(select)

  // First what each loses, from paths alone: nothing is written unless every rewrite can be made.
  const plans: Array<{ readonly backup: BackupRow; readonly removed: number; readonly removedBytes: number; readonly kept: number }> = []
  for (const backup of selected) {
    const places = rootPlacesOf(backup.paths)
    let removed = 0
    let removedBytes = 0
    let kept = 0
    yield* manifest.eachEntryHead(backup.id, (e) => {
      if (!storedPathMatches(rules, e.path, places)) return void kept++
      removed++
      if (e.kind === "file") removedBytes += e.size
    })
    if (removed > 0 && kept === 0) {
      return yield* new UserError({ detail: `every entry of backup ${backup.id} matches; rewriting would leave it empty: \`enigma forget ${backup.id.slice(0, 8)}\` instead` })
    }
    plans.push({ backup, removed, removedBytes, kept })
  }

  const report: Array<RewrittenBackup> = []
  for (const { backup, removed, removedBytes } of plans) {
    const places = rootPlacesOf(backup.paths)
    if (removed === 0 || options.dryRun) {
      report.push({ id: backup.id, newId: null, removed, removedBytes, forgotten: false })
      continue
    }
    const started = Date.now()
    const newId = randomBytes(8).toString("hex")
    yield* log.append([{
      _tag: "BackupStarted",
      backupId: newId,
      // The backup's own time: list, forget --keep-* and `latest` see it where the original was.
      at: backup.startedAt,
      host: backup.host,
      paths: backup.paths,
      ...(backup.parent !== undefined ? { parent: backup.parent } : {}),
      tags: backup.tags.includes(rewriteTag) ? backup.tags : [...backup.tags, rewriteTag]
    }])
    const stats = { files: 0, dirs: 0, symlinks: 0, specials: 0, bytes: 0 }
    let batch: Array<FileEntry> = []
    yield* manifest.eachFilePage(backup.id, 4 * filesPerEvent, (page) =>
      Effect.gen(function*() {
        for (const f of page) {
          if (storedPathMatches(rules, f.path, places)) continue
          let entry = f
          if (f.linkTo !== undefined && storedPathMatches(rules, f.linkTo, places)) {
            const { linkTo: _gone, ...own } = f
            entry = own
          }
          if (entry.kind === "file") {
            stats.files++
            stats.bytes += entry.size
          } else if (entry.kind === "dir") stats.dirs++
          else if (entry.kind === "symlink") stats.symlinks++
          else stats.specials++
          batch.push(entry)
          if (batch.length >= filesPerEvent) {
            yield* log.record([{ _tag: "FilesRecorded", backupId: newId, files: batch }])
            batch = []
          }
        }
      }))
    if (batch.length > 0) yield* log.record([{ _tag: "FilesRecorded", backupId: newId, files: batch }])
    const { specials, ...counted } = stats
    const finalStats: BackupStats = {
      ...counted,
      ...specialsCount(specials),
      bytesRead: 0,
      newChunks: 0,
      newBytes: 0,
      storedNewBytes: 0,
      durationMs: Date.now() - started,
      warnings: 0
    }
    const at = Date.now()
    yield* log.append([
      { _tag: "BackupCommitted", backupId: newId, at, stats: finalStats },
      ...(options.forget ? [{ _tag: "BackupForgotten" as const, backupId: backup.id, at }] : [])
    ])
    report.push({ id: backup.id, newId, removed, removedBytes, forgotten: options.forget })
  }
  return { dryRun: options.dryRun, backups: report } satisfies RewriteReport
})
