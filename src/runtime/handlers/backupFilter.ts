import { Effect } from "effect"
import { parseBackupFilter } from "../../domain/BackupFilter.ts"
import { UserError } from "../../domain/Errors.ts"

/** `--tag`, `--host`, `--path` (list, forget, tag) as a BackupFilter, paths from the working directory; or the user's error. */
export const backupFilter = (a: { readonly tags: ReadonlyArray<string>; readonly hosts: ReadonlyArray<string>; readonly paths: ReadonlyArray<string> }) =>
  Effect.gen(function*() {
    const filter = parseBackupFilter(process.cwd(), a)
    if ("error" in filter) return yield* new UserError({ detail: filter.error })
    return filter
  })
