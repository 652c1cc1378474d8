import * as fs from "node:fs/promises"
import { Effect } from "effect"
import { UserError } from "../../domain/Errors.ts"
import { listFileLines, parseBothExcludes } from "../../domain/ExcludeRules.ts"

/** Standard input, whole, as text (`-` for a list file, as restic reads it). */
const readStdin = (): Promise<string> =>
  new Promise((resolve, reject) => {
    const pieces: Array<Buffer> = []
    process.stdin.on("data", (piece: Buffer) => pieces.push(piece))
    process.stdin.once("end", () => resolve(Buffer.concat(pieces).toString("utf8")))
    process.stdin.once("error", reject)
  })

/**
 * A file named by `flag` (--exclude-file, --files-from…), read whole, or standard input for `-`
 * (`find … | enigma backup --files-from -`); a one-line error when it cannot be.
 */
export const readListFile = (flag: string, file: string) =>
  file === "-" && process.stdin.isTTY
    ? Effect.fail(new UserError({ detail: `${flag} -: stdin is a terminal; pipe the list in (e.g. from find), or name a file` }))
    : Effect.tryPromise({
      try: () => (file === "-" ? readStdin() : fs.readFile(file, "utf8")),
      catch: (e) => new UserError({ detail: `${flag} ${file}: cannot read it (${(e as { code?: string }).code ?? (e as Error).message})` })
    })

/**
 * `$VAR` and `${VAR}` in an exclude file's lines, as restic expands them (Go's os.ExpandEnv: an
 * unset variable is empty), so one file serves several users (`$HOME/.cache`).
 */
export const expandEnv = (line: string): string =>
  line.replace(/\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, braced: string | undefined, bare: string | undefined) => process.env[braced ?? bare ?? ""] ?? "")

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
    for (const file of a.excludeFile) patterns.push(...listFileLines(yield* readListFile("--exclude-file", file)).map(expandEnv))
    const ignoringCase = [...a.iexclude]
    for (const file of a.iexcludeFile) ignoringCase.push(...listFileLines(yield* readListFile("--iexclude-file", file)).map(expandEnv))
    const rules = parseBothExcludes(patterns, ignoringCase)
    if ("error" in rules) return yield* new UserError({ detail: rules.error })
    return { patterns, ignoringCase, rules }
  })
