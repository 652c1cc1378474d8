import * as fs from "node:fs/promises"
import { Effect } from "effect"
import { UserError } from "../../domain/Errors.ts"
import { listFileLines, parseBothExcludes } from "../../domain/ExcludeRules.ts"

/** A file named by `flag` (--exclude-file, --files-from…), read whole; a one-line error when it cannot be. */
export const readListFile = (flag: string, file: string) =>
  Effect.tryPromise({
    try: () => fs.readFile(file, "utf8"),
    catch: (e) => new UserError({ detail: `${flag} ${file}: cannot read it (${(e as { code?: string }).code ?? (e as Error).message})` })
  })

/** The flags that give patterns to leave out (backup, rewrite). */
export interface ExcludeFlags {
  readonly exclude: ReadonlyArray<string>
  readonly excludeFile: ReadonlyArray<string>
  readonly iexclude: ReadonlyArray<string>
  readonly iexcludeFile: ReadonlyArray<string>
}

/**
 * The --exclude patterns and those of every --exclude-file, and the same pair ignoring case
 * (--iexclude, --iexclude-file), checked before the repository is opened.
 */
export const excludePatterns = (a: ExcludeFlags) =>
  Effect.gen(function*() {
    const patterns = [...a.exclude]
    for (const file of a.excludeFile) patterns.push(...listFileLines(yield* readListFile("--exclude-file", file)))
    const ignoringCase = [...a.iexclude]
    for (const file of a.iexcludeFile) ignoringCase.push(...listFileLines(yield* readListFile("--iexclude-file", file)))
    const rules = parseBothExcludes(patterns, ignoringCase)
    if ("error" in rules) return yield* new UserError({ detail: rules.error })
    return { patterns, ignoringCase, rules }
  })
