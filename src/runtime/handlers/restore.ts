import { Effect, Option } from "effect"
import { UserError } from "../../domain/Errors.ts"
import { Manifest } from "../../services/manifest/Manifest.ts"
import type { FileEntry } from "../../domain/Events.ts"
import { Restore, restoreProblem } from "../../services/restore/Restore.ts"
import { unlock, withRepository } from "../Open.ts"
import { collectOwnedBuffersOnly } from "../OwnedBuffersGc.ts"
import { emit, ExitWith, formatBytes, formatDuration, makeProgress } from "../Output.ts"
import { rootCommand } from "../commands/shared.ts"
import { stdoutWriter } from "../StdoutWriter.ts"

/** Entries formatted and written at a time by `restore --list`. */
const listSlice = 2_000

/** An entry as `restore --list --json` shows it. */
const listed = (e: FileEntry) => ({
  path: e.path,
  kind: e.kind,
  size: e.size,
  mode: e.mode,
  mtime: e.mtimeMs,
  ...(e.uid !== undefined ? { uid: e.uid, gid: e.gid } : {}),
  ...(e.linkTo !== undefined ? { linkTo: e.linkTo } : {}),
  ...(e.target ? { target: e.target } : {})
})

export const restore = Effect.fn("cli.restore")(function*({ id, dest, path, glob, exclude, iexclude, list, sparse, overwrite, json }: {
  readonly id: string
  readonly dest: Option.Option<string>
  readonly path: ReadonlyArray<string>
  readonly glob: ReadonlyArray<string>
  readonly exclude: ReadonlyArray<string>
  readonly iexclude: ReadonlyArray<string>
  readonly list: boolean
  readonly sparse: boolean
  readonly overwrite: "always" | "if-changed" | "never"
  readonly json: boolean
}) {
  const options = { pathPrefix: path, glob, exclude, iexclude }
  const problem = restoreProblem(options)
  if (problem !== undefined) return yield* new UserError({ detail: problem })
  const opened = yield* unlock(yield* rootCommand)
  if (!list) yield* collectOwnedBuffersOnly(opened.providers)
  yield* withRepository(opened, "restore", false, Effect.gen(function*() {
    const manifest = yield* Manifest
    const backup = yield* manifest.resolveBackup(id)
    if (list) {
      // A window of entries at a time, written as it comes: a backup of millions of files is
      // never held whole, nor its listing. JSON comes out as JSON.stringify(array, null, 2) would.
      const write = stdoutWriter()
      const text = (s: string) => write(Buffer.from(s))
      let first = true
      const format = (entries: ReadonlyArray<FileEntry>) =>
        json
          ? entries.map((e) => {
            const item = JSON.stringify(listed(e), null, 2).replaceAll("\n", "\n  ")
            const sep = first ? "[\n  " : ",\n  "
            first = false
            return `${sep}${item}`
          }).join("")
          : entries.map((e) => `${e.kind === "dir" ? "d" : e.kind === "symlink" ? "l" : "-"} ${String(e.size).padStart(12)} ${e.path}${e.target ? ` -> ${e.target}` : ""}\n`).join("")
      // The text of a window's entries, a slice at a time: 50,000 entries of JSON made one ~30 MB string.
      const count = yield* (yield* Restore).list(backup.id, options, (entries) =>
        Effect.forEach(
          Array.from({ length: Math.ceil(entries.length / listSlice) }, (_, i) => entries.slice(i * listSlice, (i + 1) * listSlice)),
          (slice) => text(format(slice)),
          { discard: true }
        ))
      if (json) yield* text(count === 0 ? "[]\n" : "\n]\n")
      else if (count === 0) yield* text("(no entries match)\n")
      return
    }
    if (Option.isNone(dest)) {
      return yield* new UserError({ detail: "restore needs a destination directory (or --list)" })
    }
    let done = { files: 0, bytes: 0 }
    // The whole backup's size is known: with no selection, the line shows how far and how long.
    const whole = path.length === 0 && glob.length === 0 && exclude.length === 0 && iexclude.length === 0 ? backup.stats : undefined
    const started = Date.now()
    const line = makeProgress(() => {
      const rate = done.bytes / Math.max((Date.now() - started) / 1000, 0.001)
      if (whole === undefined || whole.bytes === 0) return `${done.files} files, ${formatBytes(done.bytes)} restored, ${formatBytes(rate)}/s`
      const eta = rate > 0 ? `, ETA ${formatDuration(Math.max(0, (whole.bytes - done.bytes) / rate) * 1000)}` : ""
      return `${done.files} of ${whole.files} files, ${formatBytes(done.bytes)} of ${formatBytes(whole.bytes)} (${Math.min(100, (100 * done.bytes) / whole.bytes).toFixed(0)}%), ${formatBytes(rate)}/s${eta}`
    })
    const restore = yield* Restore
    const r = yield* restore.run(backup.id, dest.value, { ...options, sparse, overwrite, onProgress: (files, bytes) => {
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
      `restored backup ${backup.id} to ${dest.value}: ${r.files} files, ${r.dirs} dirs, ${r.symlinks} symlinks, ${formatBytes(r.bytes)}` +
      (r.skipped > 0 ? `; ${r.skipped} already there left as they were (--overwrite ${overwrite})` : ""))
    // The data is all there; say (and exit 3) that some entries could not get their owner.
    if (r.ownersRefused > 0) {
      process.stderr.write(`warning: ${r.ownersRefused} restored entries keep the restoring user as owner: the filesystem refused their recorded owner (${r.ownerError ?? "error"})\n`)
      return yield* new ExitWith({ code: 3 })
    }
  }))
})

/** restic's `dump`: one file of a backup to stdout, each chunk verified before its bytes. */
export const dump = Effect.fn("cli.dump")(function*({ id, path: wanted }: { readonly id: string; readonly path: string }) {
  const opened = yield* unlock(yield* rootCommand)
  const write = stdoutWriter()
  yield* withRepository(opened, "dump", false, Effect.gen(function*() {
    const backup = yield* (yield* Manifest).resolveBackup(id)
    // A directory comes out as a tar archive: not onto a terminal.
    yield* (yield* Restore).dump(backup.id, wanted, (bytes) => write(bytes), { archives: !process.stdout.isTTY })
  }))
})
