/**
 * Pure path rules for restore: which stored paths are safe to write under a destination, and
 * which ones a `--path` / `--glob` selection picks.
 */

/** A stored path is safe when it is relative, `/`-separated, and has no empty, `.` or `..` part. */
export const isSafeRelativePath = (p: string): boolean => {
  if (p.length === 0 || p.startsWith("/") || p.includes("\\") || p.includes("\0")) return false
  return p.split("/").every((part) => part !== "" && part !== "." && part !== "..")
}

/**
 * `--path docs` selects `docs` itself and everything below it. A trailing slash is allowed, and so
 * is a leading one (`/docs`, as `ls` takes it): stored paths have none, and a restic user types it.
 */
export const matchesPrefix = (p: string, prefix: string): boolean => {
  const pre = prefix.replace(/^\/+/, "").replace(/\/+$/, "")
  return pre === "" || p === pre || p.startsWith(`${pre}/`)
}

/** Ancestors of a path, outermost first: `a/b/c` → [`a`, `a/b`]. */
export const ancestors = (p: string): Array<string> => {
  const parts = p.split("/")
  const out: Array<string> = []
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join("/"))
  return out
}

/**
 * Glob matching with `*` (within one segment), `**` (any number of segments), `?` and `[...]`.
 * A pattern without `/` matches the last segment (as `--glob "*.rs"` means any .rs file); one
 * with `/` matches the whole path.
 */
export const matchesGlob = (p: string, pattern: string): boolean => {
  const subject = pattern.includes("/") ? p : p.slice(p.lastIndexOf("/") + 1)
  return globToRegExp(pattern).test(subject)
}

/**
 * `find`'s match, as restic's: a pattern without `/` matches the name; an absolute one the whole
 * path, either as stored (`/data/docs/a.txt`) or, given where the root was (`place`: `/srv` for a
 * root `/srv/data`), as it was (`/srv/data/docs/a.txt`); a relative one with `/` any tail of the
 * path that starts at a segment (`docs/*.txt`).
 */
export const findMatches = (storedPath: string, pattern: string, place: string | undefined): boolean => {
  if (!pattern.includes("/")) return matchesGlob(storedPath, pattern)
  if (pattern.startsWith("/")) {
    const anchored = pattern.replace(/^\/+/, "")
    return matchesGlob(storedPath, anchored) || (place !== undefined && place !== "" && matchesGlob(`${place.slice(1)}/${storedPath}`, anchored))
  }
  if (matchesGlob(storedPath, pattern)) return true
  for (let at = storedPath.indexOf("/"); at >= 0; at = storedPath.indexOf("/", at + 1)) {
    if (matchesGlob(storedPath.slice(at + 1), pattern)) return true
  }
  return false
}

/** Why `--glob pattern` (or `flag pattern`) cannot be used (a range such as `[z-a]`), or undefined when it can. */
export const globProblem = (pattern: string, flag = "--glob"): string | undefined => {
  try {
    globToRegExp(pattern)
    return undefined
  } catch (e) {
    return `${flag} ${pattern} is not a valid pattern (${(e as Error).message}); use *, **, ? and [a-z]`
  }
}

const globCache = new Map<string, RegExp>()
export const globToRegExp = (pattern: string): RegExp => {
  const cached = globCache.get(pattern)
  if (cached) return cached
  let re = ""
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        i++
        if (pattern[i + 1] === "/") {
          i++
          re += "(?:.*/)?"
        } else re += ".*"
      } else re += "[^/]*"
    } else if (c === "?") re += "[^/]"
    else if (c === "[") {
      const close = pattern.indexOf("]", i + 1)
      if (close < 0) re += "\\["
      else {
        let body = pattern.slice(i + 1, close)
        if (body.startsWith("!")) body = `^${body.slice(1)}`
        re += `[${body.replace(/\\/g, "\\\\")}]`
        i = close
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&")
  }
  const out = new RegExp(`^${re}$`)
  globCache.set(pattern, out)
  return out
}
