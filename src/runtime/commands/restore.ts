import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { UserError } from "../../domain/Errors.ts"
import { Manifest } from "../../services/manifest/Manifest.ts"
import { Restore, selectEntries } from "../../services/restore/Restore.ts"
import { unlock, withRepository } from "../Open.ts"
import { emit, formatBytes, makeProgress } from "../Output.ts"
import { jsonFlag, rootCommand } from "./shared.ts"

export const restoreCommand = Command.make("restore", {
  id: Argument.String("backup-id").pipe(Argument.withDescription("Backup id (or a unique prefix)")),
  dest: Argument.String("dest").pipe(Argument.withDescription("Destination directory"), Argument.optional),
  path: Flag.String("path").pipe(Flag.withDescription("Restore only this path prefix (e.g. docs/)"), Flag.optional),
  glob: Flag.String("glob").pipe(Flag.withDescription("Restore only files matching this glob (e.g. \"*.rs\")"), Flag.optional),
  list: Flag.Boolean("list").pipe(Flag.withDescription("List the selected entries instead of restoring"), Flag.withDefault(false)),
  json: jsonFlag
}, Effect.fn("cli.restore")(function*({ id, dest, path, glob, list, json }) {
  const opened = yield* unlock(yield* rootCommand)
  const options = { pathPrefix: Option.getOrUndefined(path), glob: Option.getOrUndefined(glob) }
  yield* withRepository(opened, "restore", false, Effect.gen(function*() {
    const manifest = yield* Manifest
    const backup = yield* manifest.resolveBackup(id)
    if (list) {
      const entries = selectEntries(yield* manifest.files(backup.id), options)
      return yield* emit(json, entries.map((e) => ({ path: e.path, kind: e.kind, size: e.size, mode: e.mode, mtime: e.mtimeMs, ...(e.target ? { target: e.target } : {}) })), () =>
        entries.map((e) => `${e.kind === "dir" ? "d" : e.kind === "symlink" ? "l" : "-"} ${String(e.size).padStart(12)} ${e.path}${e.target ? ` -> ${e.target}` : ""}`).join("\n") || "(no entries match)")
    }
    if (Option.isNone(dest)) {
      return yield* new UserError({ detail: "restore needs a destination directory (or --list)" })
    }
    let done = { files: 0, bytes: 0 }
    const line = makeProgress(() => `${done.files} files, ${formatBytes(done.bytes)} restored`)
    const restore = yield* Restore
    const r = yield* restore.run(backup.id, dest.value, { ...options, onProgress: (files, bytes) => {
      done = { files, bytes }
      line.update()
    } }).pipe(Effect.ensuring(Effect.sync(line.done)))
    yield* emit(json, { backupId: backup.id, dest: dest.value, ...r }, () =>
      `restored backup ${backup.id} to ${dest.value}: ${r.files} files, ${r.dirs} dirs, ${r.symlinks} symlinks, ${formatBytes(r.bytes)}`)
  }))
})).pipe(Command.withDescription("Restore a backup (or part of it) into a directory"))
