import { Effect, Option } from "effect"
import { UserError } from "../../domain/Errors.ts"
import { Manifest } from "../../services/manifest/Manifest.ts"
import type { FileEntry } from "../../domain/Events.ts"
import { deviceNumbers } from "../../domain/SpecialFiles.ts"
import { listedFor, longLine, normalizeListDir, sizeColumn, typeChar } from "../../domain/Listing.ts"
import { matchesPrefix } from "../../domain/PathFilter.ts"
import { holdsRepository, mountedInIt } from "../../services/restore/Extraneous.ts"
import { Restore, restoreProblem } from "../../services/restore/Restore.ts"
import { unlock, withRepository } from "../Open.ts"
import { collectOwnedBuffersOnly } from "../OwnedBuffersGc.ts"
import { emit, ExitWith, formatBytes, formatDuration, makeProgress } from "../Output.ts"
import { rootCommand } from "../commands/shared.ts"
import { backupFilter } from "./backupFilter.ts"
import { stdoutWriter } from "../StdoutWriter.ts"

/** Why `--delete` leaves a directory, and what to do. */
const mountedThere = `${mountedInIt} (unmount it, or remove it yourself)`

/** Entries formatted and written at a time by `restore --list` and `ls`. */
const listSlice = 2_000

/** An entry as `restore --list --json` and `ls --json` show it. */
const listed = (e: FileEntry) => ({
  path: e.path,
  kind: e.kind,
  size: e.size,
  mode: e.mode,
  mtime: e.mtimeMs,
  ...(e.uid !== undefined ? { uid: e.uid, gid: e.gid } : {}),
  ...(e.linkTo !== undefined ? { linkTo: e.linkTo } : {}),
  ...(e.target ? { target: e.target } : {}),
  ...(e.rdev !== undefined ? { device: deviceNumbers(e.rdev) } : {}),
  // Values as base64: they are bytes (a capability, an ACL), not always text.
  ...(e.xattrs !== undefined ? { xattrs: Object.fromEntries(e.xattrs) } : {})
})

/**
 * Writes a listing of entries as they come, a window at a time: a backup of millions of files is
 * never held whole, nor its listing. JSON comes out as JSON.stringify(array, null, 2) would; text
 * as a line per entry. `end` closes it, with `none` for a listing with nothing in it.
 */
const entryListing = (json: boolean, line: (e: FileEntry) => string) => {
  const write = stdoutWriter()
  const text = (s: string) => write(Buffer.from(s))
  let first = true
  let count = 0
  const format = (entries: ReadonlyArray<FileEntry>) =>
    json
      ? entries.map((e) => {
        const item = JSON.stringify(listed(e), null, 2).replaceAll("\n", "\n  ")
        const sep = first ? "[\n  " : ",\n  "
        first = false
        return `${sep}${item}`
      }).join("")
      : entries.map((e) => `${line(e)}\n`).join("")
  // The text of a window's entries, a slice at a time: 50,000 entries of JSON made one ~30 MB string.
  const visit = (entries: ReadonlyArray<FileEntry>) => {
    count += entries.length
    return Effect.forEach(
      Array.from({ length: Math.ceil(entries.length / listSlice) }, (_, i) => entries.slice(i * listSlice, (i + 1) * listSlice)),
      (slice) => text(format(slice)),
      { discard: true }
    )
  }
  const end = (none: string) => (json ? text(count === 0 ? "[]\n" : "\n]\n") : count === 0 ? text(none) : Effect.void)
  return { visit, end }
}

/** `--host` and `--tag` of a command that takes a backup id: which backups `latest` means. */
interface LatestFilter {
  readonly hosts: ReadonlyArray<string>
  readonly tags: ReadonlyArray<string>
}
const latestFilter = (f: LatestFilter) => backupFilter({ ...f, paths: [] })

export const restore = Effect.fn("cli.restore")(function*({ id, dest, path, glob, exclude, iexclude, include, iinclude, excludeXattr, includeXattr, list, sparse, overwrite, delete: remove, dryRun, json, hosts, tags }: LatestFilter & {
  readonly id: string
  readonly dest: Option.Option<string>
  readonly path: ReadonlyArray<string>
  readonly glob: ReadonlyArray<string>
  readonly exclude: ReadonlyArray<string>
  readonly iexclude: ReadonlyArray<string>
  readonly include: ReadonlyArray<string>
  readonly iinclude: ReadonlyArray<string>
  readonly excludeXattr: ReadonlyArray<string>
  readonly includeXattr: ReadonlyArray<string>
  readonly list: boolean
  readonly sparse: boolean
  readonly overwrite: "always" | "if-changed" | "never"
  readonly delete: boolean
  readonly dryRun: boolean
  readonly json: boolean
}) {
  const options = { pathPrefix: path, glob, exclude, iexclude, include, iinclude, excludeXattr, includeXattr }
  const problem = restoreProblem(options)
  if (problem !== undefined) return yield* new UserError({ detail: problem })
  if (list && (remove || dryRun)) return yield* new UserError({ detail: "--delete and --dry-run restore into a destination; --list only lists (leave out one or the other)" })
  const filter = yield* latestFilter({ hosts, tags })
  const opened = yield* unlock(yield* rootCommand)
  if (!list) yield* collectOwnedBuffersOnly(opened.providers)
  yield* withRepository(opened, "restore", false, Effect.gen(function*() {
    const manifest = yield* Manifest
    const backup = yield* manifest.resolveBackup(id, filter)
    if (list) {
      const out = entryListing(json, (e) =>
        `${typeChar(e.kind)} ${sizeColumn(e, 12)} ${e.path}${e.target ? ` -> ${e.target}` : ""}`)
      yield* (yield* Restore).list(backup.id, options, out.visit)
      return yield* out.end("(no entries match)\n")
    }
    if (Option.isNone(dest)) {
      return yield* new UserError({ detail: "restore needs a destination directory (or --list)" })
    }
    if (dryRun) {
      const plan = yield* (yield* Restore).plan(backup.id, dest.value, { ...options, overwrite, delete: remove })
      return yield* emit(json, { backupId: backup.id, dest: dest.value, dryRun: true, ...plan }, () =>
        [
          ...plan.deleted.map((p) => `would delete ${p}`),
          ...plan.keptMounted.map((p) => `would keep ${p}: ${mountedThere}`),
          ...(plan.keptOwn.length > 0 ? [`would keep ${plan.keptOwn.join(", ")}: ${holdsRepository}`] : []),
          `dry run: would restore ${plan.entries} entries (${plan.files} files, ${formatBytes(plan.bytes)}) of backup ${backup.id} to ${dest.value}` +
          (remove ? `, and delete ${plan.deleted.length} entries it does not hold` : "") + "; nothing was changed"
        ].join("\n"))
    }
    let done = { files: 0, bytes: 0 }
    // The whole backup's size is known: with no selection, the line shows how far and how long.
    const whole = path.length === 0 && glob.length === 0 && exclude.length === 0 && iexclude.length === 0 && include.length === 0 && iinclude.length === 0 ? backup.stats : undefined
    const started = Date.now()
    const line = makeProgress(() => {
      const rate = done.bytes / Math.max((Date.now() - started) / 1000, 0.001)
      if (whole === undefined || whole.bytes === 0) return `${done.files} files, ${formatBytes(done.bytes)} restored, ${formatBytes(rate)}/s`
      const eta = rate > 0 ? `, ETA ${formatDuration(Math.max(0, (whole.bytes - done.bytes) / rate) * 1000)}` : ""
      return `${done.files} of ${whole.files} files, ${formatBytes(done.bytes)} of ${formatBytes(whole.bytes)} (${Math.min(100, (100 * done.bytes) / whole.bytes).toFixed(0)}%), ${formatBytes(rate)}/s${eta}`
    })
    const restore = yield* Restore
    const r = yield* restore.run(backup.id, dest.value, { ...options, sparse, overwrite, delete: remove, onProgress: (files, bytes) => {
      done = { files, bytes }
      line.update()
    } }).pipe(
      Effect.ensuring(Effect.sync(line.done)),
      // Each file left out, named, before the one-line error that sums them up.
      Effect.tapError((e) =>
        Effect.sync(() => {
          if (e._tag !== "RestoreIncomplete") return
          process.stderr.write(e.damaged.map((d) => `error: ${d.path}: not restored: ${d.problem}\n`).join(""))
        })
      )
    )
    yield* emit(json, { backupId: backup.id, dest: dest.value, ...r }, () =>
      `restored backup ${backup.id} to ${dest.value}: ${r.files} files, ${r.dirs} dirs, ${r.symlinks} symlinks, ${r.specials > 0 ? `${r.specials} special files, ` : ""}${formatBytes(r.bytes)}` +
      (r.skipped > 0 ? `; ${r.skipped} already there left as they were (--overwrite ${overwrite})` : "") +
      (remove ? `; deleted ${r.deleted.length} entries the backup does not hold` : ""))
    // The data is all there; say (and exit 3) that some entries could not get their owner, or
    // their extended attributes, or that --delete left a directory with a disk mounted in it.
    if (r.ownersRefused > 0) {
      process.stderr.write(`warning: ${r.ownersRefused} restored entries keep the restoring user as owner: the filesystem refused their recorded owner (${r.ownerError ?? "error"})\n`)
    }
    if (r.xattrsRefused > 0) {
      process.stderr.write(`warning: ${r.xattrsRefused} extended attributes were not restored: the filesystem refused them (${r.xattrError ?? "error"}; security.* and trusted.* need root, user.* a filesystem that keeps them)\n`)
    }
    if (r.nodesRefused.length > 0) {
      const named = r.nodesRefused.slice(0, 5).join(", ") + (r.nodesRefused.length > 5 ? ` and ${r.nodesRefused.length - 5} more` : "")
      process.stderr.write(`warning: device nodes not restored: ${named}: making one needs root (mknod: ${r.nodeError ?? "Operation not permitted"})\n`)
    }
    for (const p of r.keptMounted) process.stderr.write(`warning: --delete left ${p}: ${mountedThere}\n`)
    if (r.keptOwn.length > 0) process.stderr.write(`warning: left ${r.keptOwn.join(", ")} as they were: ${holdsRepository}\n`)
    if (r.blocked.length > 0) {
      const named = r.blocked.slice(0, 5).join(", ") + (r.blocked.length > 5 ? ` and ${r.blocked.length - 5} more` : "")
      process.stderr.write(`warning: directories not restored: ${named}: a file or symlink stands at their place, kept by --overwrite never; move it aside and restore again to get them\n`)
    }
    if (r.ownersRefused > 0 || r.xattrsRefused > 0 || r.nodesRefused.length > 0 || r.keptMounted.length > 0 || r.keptOwn.length > 0 || r.blocked.length > 0) {
      return yield* new ExitWith({ code: 3 })
    }
  }))
})

/** restic's `dump`: one file of a backup to stdout, each chunk verified before its bytes. */
export const dump = Effect.fn("cli.dump")(function*({ id, path: wanted, hosts, tags }: LatestFilter & { readonly id: string; readonly path: string }) {
  const filter = yield* latestFilter({ hosts, tags })
  const opened = yield* unlock(yield* rootCommand)
  const write = stdoutWriter()
  yield* withRepository(opened, "dump", false, Effect.gen(function*() {
    const backup = yield* (yield* Manifest).resolveBackup(id, filter)
    // A directory comes out as a tar archive: not onto a terminal.
    yield* (yield* Restore).dump(backup.id, wanted, (bytes) => write(bytes), { archives: !process.stdout.isTTY })
  }))
})

/**
 * restic's `ls`: the entries of a backup, or of directories in it (DIR…: what is directly in each,
 * or with `recursive` everything beneath), a path a line, or `long` as ls -l writes them.
 */
export const ls = Effect.fn("cli.ls")(function*({ id, dirs, recursive, long, json, hosts, tags }: LatestFilter & {
  readonly id: string
  readonly dirs: ReadonlyArray<string>
  readonly recursive: boolean
  readonly long: boolean
  readonly json: boolean
}) {
  const wanted = [...new Set(dirs.map(normalizeListDir))]
  const filter = yield* latestFilter({ hosts, tags })
  const opened = yield* unlock(yield* rootCommand)
  yield* withRepository(opened, "ls", false, Effect.gen(function*() {
    const backup = yield* (yield* Manifest).resolveBackup(id, filter)
    const out = entryListing(json, long ? longLine : (e) => `${e.path}${e.target !== undefined ? ` -> ${e.target}` : ""}`)
    const found = new Set<string>()
    const whole = wanted.length === 0 || wanted.includes("")
    yield* (yield* Restore).list(backup.id, { pathPrefix: whole ? undefined : wanted }, (entries) => {
      if (wanted.length === 0) return out.visit(entries)
      const picked = entries.filter((e) => {
        let hit = false
        for (const d of wanted) {
          if (!matchesPrefix(e.path, d)) continue
          found.add(d)
          if (listedFor(d, recursive, e)) hit = true
        }
        return hit
      })
      return picked.length > 0 ? out.visit(picked) : Effect.void
    })
    yield* out.end("")
    const missing = wanted.filter((d) => d !== "" && !found.has(d))
    if (missing.length > 0) {
      return yield* new UserError({
        detail: `backup ${backup.id} holds no ${missing.map((d) => `"${d}"`).join(", ")}; \`enigma ls ${backup.id.slice(0, 8)}\` lists what it holds (paths as stored, without a leading /)`
      })
    }
  }))
})
