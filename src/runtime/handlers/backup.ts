import * as path from "node:path"
import { Effect, Option } from "effect"
import { UserError } from "../../domain/Errors.ts"
import { listFileLines, parseMarker } from "../../domain/ExcludeRules.ts"
import { parseSize } from "../../domain/Size.ts"
import { Backup } from "../../services/backup/Backup.ts"
import { walk } from "../../services/backup/Walker.ts"
import { unlock, withRepository } from "../Open.ts"
import { collectOwnedBuffersOnly } from "../OwnedBuffersGc.ts"
import { emit, ExitWith, formatBytes, formatDuration, makeProgress } from "../Output.ts"
import { rootCommand } from "../commands/shared.ts"
import { excludePatterns, readListFile } from "./excludeFlags.ts"

interface BackupArgs {
  readonly paths: ReadonlyArray<string>
  readonly filesFrom: ReadonlyArray<string>
  readonly filesFromRaw: ReadonlyArray<string>
  readonly exclude: ReadonlyArray<string>
  readonly excludeFile: ReadonlyArray<string>
  readonly iexclude: ReadonlyArray<string>
  readonly iexcludeFile: ReadonlyArray<string>
  readonly excludeIfPresent: ReadonlyArray<string>
  readonly excludeLargerThan: Option.Option<string>
  readonly excludeCaches: boolean
  readonly oneFileSystem: boolean
  readonly host: Option.Option<string>
  readonly tags: ReadonlyArray<string>
  readonly force: boolean
  readonly ignoreInode: boolean
  readonly ignoreCtime: boolean
  readonly time: Option.Option<string>
  readonly dryRun: boolean
  readonly skipIfUnchanged: boolean
  readonly json: boolean
}

/**
 * `--time` as ms since the epoch: "YYYY-MM-DD HH:MM[:SS]" in local time (restic's form), or ISO
 * 8601 with a zone. Nothing given: undefined (now).
 */
const backupTime = (given: Option.Option<string>) =>
  Effect.gen(function*() {
    if (Option.isNone(given)) return undefined
    const text = given.value.trim()
    const local = /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d)(?::(\d\d))?$/.exec(text)
    let ms = Number.NaN
    if (local !== null) {
      const [y, mo, d, h, mi, s] = local.slice(1).map((v) => Number(v ?? 0)) as [number, number, number, number, number, number]
      const t = new Date(y, mo - 1, d, h, mi, s)
      // Date rolls 2024-02-31 over to March: a field that moved was out of range.
      if (t.getFullYear() === y && t.getMonth() === mo - 1 && t.getDate() === d && t.getHours() === h && t.getMinutes() === mi && t.getSeconds() === s) ms = t.getTime()
    } else if (/^\d{4}-\d\d-\d\dT.*(Z|[+-]\d\d:?\d\d)$/.test(text)) {
      ms = Date.parse(text)
    }
    if (Number.isNaN(ms)) {
      return yield* new UserError({ detail: `--time "${given.value}": give a time like "2024-05-01 03:00:00" (local) or 2024-05-01T03:00:00Z` })
    }
    return ms
  })

/** The paths given, then those listed in --files-from (lines, # comments) and --files-from-raw (NUL-separated) files. */
const pathsOf = (a: BackupArgs) =>
  Effect.gen(function*() {
    const paths = [...a.paths]
    const listed = [...a.filesFrom.map((f) => [f, "--files-from"] as const), ...a.filesFromRaw.map((f) => [f, "--files-from-raw"] as const)]
    for (const [file, flag] of listed) {
      const text = yield* readListFile(flag, file)
      paths.push(...(flag === "--files-from-raw"
        ? text.split("\0").filter((p) => p !== "")
        : listFileLines(text)))
    }
    if (paths.length === 0) {
      return yield* new UserError({ detail: "backup needs at least one path: give paths, or --files-from FILE" })
    }
    return paths
  })

export const backup = Effect.fn("cli.backup")(function*(a: BackupArgs) {
  const { json } = a
  const paths = yield* pathsOf(a)
  const excludes = yield* excludePatterns(a)
  const maxSize = Option.isSome(a.excludeLargerThan) ? parseSize(a.excludeLargerThan.value, "--exclude-larger-than", 0, Number.MAX_SAFE_INTEGER) : undefined
  if (typeof maxSize === "string") return yield* new UserError({ detail: maxSize })
  const markers = a.excludeIfPresent.map(parseMarker)
  for (const m of markers) if ("error" in m) return yield* new UserError({ detail: m.error })
  const walkOptions = {
    excludes: excludes.rules,
    excludeCaches: a.excludeCaches,
    excludeIfPresent: markers as Array<{ name: string; header?: string }>,
    maxFileSize: maxSize,
    oneFileSystem: a.oneFileSystem
  }
  const time = yield* backupTime(a.time)
  const opened = yield* unlock(yield* rootCommand)
  const backupOptions = {
    time,
    exclude: excludes.patterns,
    iexclude: excludes.ignoringCase,
    excludeCaches: a.excludeCaches,
    excludeIfPresent: a.excludeIfPresent,
    excludeLargerThan: maxSize,
    oneFileSystem: a.oneFileSystem,
    host: Option.getOrUndefined(a.host),
    tags: a.tags,
    force: a.force,
    ignoreInode: a.ignoreInode,
    ignoreCtime: a.ignoreCtime,
    skipIfUnchanged: a.skipIfUnchanged
  }
  if (a.dryRun) {
    // Read-only: no lock, nothing recorded.
    const plan = yield* withRepository(opened, "backup --dry-run", false, Backup.use((b) => b.plan(paths, backupOptions)))
    yield* emit(json, { dryRun: true, ...plan, parent: plan.parent ?? null }, () =>
      [
        `dry run: would back up ${plan.files} files (${formatBytes(plan.bytes)}), ${plan.dirs} dirs, ${plan.symlinks} symlinks${plan.specials > 0 ? `, ${plan.specials} special files` : ""}`,
        plan.parent !== undefined
          ? `  would read ${plan.readFiles} new or changed files (${formatBytes(plan.readBytes)}); the others are as in backup ${plan.parent}`
          : `  would read all ${plan.readFiles} files (${formatBytes(plan.readBytes)}): ${a.force ? "--force" : "no earlier backup of these paths from this host"}`,
        ...(plan.warnings.length > 0 ? [`  ${plan.warnings.length} item(s) could not be read`] : [])
      ].join("\n"))
    if (plan.warnings.length > 0) return yield* new ExitWith({ code: 3 })
    return
  }
  yield* collectOwnedBuffersOnly(opened.providers)
  const started = Date.now()
  let progress = { files: 0, bytesRead: 0, bytesDone: 0 }
  // On a terminal, size the job in the background so the progress line can show an ETA.
  let total: number | undefined
  if (process.stderr.isTTY) {
    void (async () => {
      let sum = 0
      let n = 0
      for (const e of walk(paths.map((p) => ({ abs: path.resolve(p), name: "" })), () => {}, walkOptions)) {
        if (e.kind === "file") sum += e.stat.size
        // The walk is synchronous: let the backup itself run in between.
        if (++n % 500 === 0) await new Promise((r) => setImmediate(r))
      }
      total = sum
    })().catch(() => {})
  }
  const line = makeProgress(() => {
    const secs = (Date.now() - started) / 1000
    const rate = progress.bytesDone / Math.max(secs, 0.001)
    const eta = total !== undefined && rate > 0 ? ` of ${formatBytes(total)}, ETA ${formatDuration(Math.max(0, (total - progress.bytesDone) / rate) * 1000)}` : ""
    return `${progress.files} files, ${formatBytes(progress.bytesDone)}${eta}, ${formatBytes(rate)}/s, ${formatBytes(progress.bytesRead)} read`
  })
  const result = yield* withRepository(opened, "backup", true, Effect.gen(function*() {
    const backup = yield* Backup
    return yield* backup.run(paths, { ...backupOptions, onProgress: (p) => {
      progress = p
      line.update()
    } })
  })).pipe(Effect.ensuring(Effect.sync(line.done)))
  const s = result.stats
  if (result.skipped === true) {
    return yield* emit(json, { backupId: result.backupId, parent: result.parent ?? null, skipped: true, ...s }, () =>
      `nothing changed since backup ${result.backupId}: no backup recorded (--skip-if-unchanged); ${s.files} files, ${formatBytes(s.bytes)}`)
  }
  const dedup = s.bytes > 0 ? s.bytes / Math.max(s.storedNewBytes, 1) : 1
  yield* emit(json, { backupId: result.backupId, parent: result.parent ?? null, skipped: false, ...s, specials: s.specials ?? 0, dedupRatio: dedup, warningPaths: result.warnings }, () =>
    [
      `backup ${result.backupId} saved${result.parent ? ` (parent ${result.parent})` : ""}`,
      `  files: ${s.files}, dirs: ${s.dirs}, symlinks: ${s.symlinks}${(s.specials ?? 0) > 0 ? `, special files: ${s.specials}` : ""}`,
      `  size: ${formatBytes(s.bytes)}, read: ${formatBytes(s.bytesRead)}, new: ${formatBytes(s.newBytes)} in ${s.newChunks} chunks (${formatBytes(s.storedNewBytes)} stored)`,
      // Nothing new stored: a ratio (size over nothing) would say nothing useful.
      `  ${s.storedNewBytes === 0 && s.bytes > 0 ? "dedup: all of it was already stored" : `dedup ratio: ${dedup.toFixed(2)}x`}, duration: ${formatDuration(s.durationMs)}`,
      ...(s.warnings > 0 ? [`completed with warnings: ${s.warnings} item(s) could not be read`] : [])
    ].join("\n"))
  if (s.warnings > 0) return yield* new ExitWith({ code: 3 })
})
