/**
 * What `backup --exclude PATTERN` / `--exclude-file FILE` leave out, with restic's rules:
 *
 *   - a pattern without `/` matches a name at any depth (`node_modules`, `*.log`);
 *   - one that starts with `/` matches the whole absolute path (`/home/*\/.cache`);
 *   - any other pattern with `/` matches the end of the path (`build/tmp` is `**\/build/tmp`);
 *   - `*` stays within a name, `**` spans names, `?` and `[...]` as in a shell;
 *   - an excluded directory is left out with everything below it.
 *
 * Negated patterns (`!pattern`, which re-include in restic) are refused rather than read as a
 * literal name: silently excluding what the user meant to keep would lose data.
 */
import { globToRegExp } from "./PathFilter.ts"

export interface ExcludeRule {
  readonly pattern: string
  /** Tested against the name (`byName`) or the absolute path. */
  readonly byName: boolean
  readonly re: RegExp
}

/**
 * The rules, or a one-line reason the first bad pattern cannot be used. `ignoreCase`: restic's
 * `--iexclude` (`*.jpg` leaves out `IMG.JPG` too); `flag` names the option in errors.
 */
export const parseExcludes = (
  patterns: ReadonlyArray<string>,
  options: { readonly ignoreCase?: boolean; readonly flag?: string } = {}
): Array<ExcludeRule> | { readonly error: string } => {
  const flag = options.flag ?? (options.ignoreCase ? "--iexclude" : "--exclude")
  const rules: Array<ExcludeRule> = []
  for (const raw of patterns) {
    const pattern = raw.trim()
    if (pattern === "") continue
    if (pattern.startsWith("!")) {
      return { error: `${flag} ${pattern}: negated patterns (starting with !) are not supported` }
    }
    const trimmed = pattern.length > 1 ? pattern.replace(/\/+$/, "") : pattern
    const byName = !trimmed.includes("/")
    try {
      const re = globToRegExp(byName || trimmed.startsWith("/") ? trimmed : `**/${trimmed}`)
      rules.push({ pattern, byName, re: options.ignoreCase ? new RegExp(re.source, `${re.flags}i`) : re })
    } catch (e) {
      return { error: `${flag} ${pattern} is not a valid pattern (${(e as Error).message}); use *, **, ? and [a-z]` }
    }
  }
  return rules
}

/** `--exclude` and `--iexclude` patterns as one list of rules, or the first one's error. */
export const parseBothExcludes = (
  exclude: ReadonlyArray<string>,
  iexclude: ReadonlyArray<string>,
  flags: { readonly exact: string; readonly folded: string } = { exact: "--exclude", folded: "--iexclude" }
): Array<ExcludeRule> | { readonly error: string } => {
  const exact = parseExcludes(exclude, { flag: flags.exact })
  if ("error" in exact) return exact
  const folded = parseExcludes(iexclude, { ignoreCase: true, flag: flags.folded })
  if ("error" in folded) return folded
  return [...exact, ...folded]
}

/** Whether `abs` (an absolute, `/`-separated path whose last part is `name`) is excluded. */
export const isExcluded = (rules: ReadonlyArray<ExcludeRule>, abs: string, name: string): boolean => {
  for (const r of rules) if (r.re.test(r.byName ? name : abs)) return true
  return false
}

/**
 * Where a backup's roots were: stored paths begin with a root's name (`data/docs/a.txt` for a
 * backup of /srv/data), and this maps that name to the directory it was in (`data` → `/srv`), so
 * that a pattern naming the original place (`--exclude /srv/data/tmp`, as restic takes it) matches.
 */
export type RootPlaces = ReadonlyMap<string, string>

/** The RootPlaces of a backup's recorded paths (absolute); `/` itself has no name to map. */
export const rootPlacesOf = (paths: ReadonlyArray<string>): RootPlaces => {
  const places = new Map<string, string>()
  for (const p of paths) {
    const trimmed = p.replace(/\/+$/, "")
    const slash = trimmed.lastIndexOf("/")
    if (slash < 0 || trimmed === "") continue
    places.set(trimmed.slice(slash + 1), trimmed.slice(0, slash))
  }
  return places
}

/** Whether absolute path `abs`, or a directory above it, matches one of `rules`. */
const matchesAbsolute = (rules: ReadonlyArray<ExcludeRule>, abs: string): boolean => {
  let at = abs.indexOf("/", 1)
  while (at >= 0) {
    if (isExcluded(rules, abs.slice(0, at), abs.slice(abs.lastIndexOf("/", at - 1) + 1, at))) return true
    at = abs.indexOf("/", at + 1)
  }
  return isExcluded(rules, abs, abs.slice(abs.lastIndexOf("/") + 1))
}

/**
 * Whether a path stored in a backup (`data/docs/a.txt`), or a directory it is in, matches one of
 * `rules`: the stored path read as absolute (`/data/docs/a.txt`), or, given where the backup's
 * roots were (`places`), the original path (`/srv/data/docs/a.txt`). Restore's and rewrite's
 * --exclude, restore's --include.
 */
export const storedPathMatches = (rules: ReadonlyArray<ExcludeRule>, p: string, places?: RootPlaces): boolean => {
  if (matchesAbsolute(rules, `/${p}`)) return true
  if (places === undefined || places.size === 0) return false
  const slash = p.indexOf("/")
  const place = places.get(slash < 0 ? p : p.slice(0, slash))
  return place !== undefined && place !== "" && matchesAbsolute(rules, `${place}/${p}`)
}

/**
 * The lines of a list file (--exclude-file patterns, --files-from paths): one per line, blank
 * lines and `#` comments skipped, surrounding whitespace trimmed (as restic reads them).
 */
export const listFileLines = (text: string): Array<string> =>
  text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"))

/**
 * `--exclude-if-present NAME[:HEADER]`: the file that marks a directory to leave out, and what it
 * must start with (restic's syntax).
 */
export const parseMarker = (spec: string): { readonly name: string; readonly header?: string } | { readonly error: string } => {
  const colon = spec.indexOf(":")
  const name = colon < 0 ? spec : spec.slice(0, colon)
  if (name === "" || name.includes("/") || name === "." || name === "..") {
    return { error: `--exclude-if-present ${spec}: give a file name (and optionally :what it starts with), e.g. .nobackup or CACHEDIR.TAG:Signature: 8a477f597d28d172789f06886806bc55` }
  }
  return colon < 0 ? { name } : { name, header: spec.slice(colon + 1) }
}

/** A cache directory's tag file and the line it must start with (https://bford.info/cachedir/). */
export const cacheDirTag = "CACHEDIR.TAG"
export const cacheDirTagSignature = "Signature: 8a477f597d28d172789f06886806bc55"
