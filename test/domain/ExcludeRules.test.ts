import { assert, describe, it } from "@effect/vitest"
import { listFileLines, isExcluded, parseBothExcludes, parseExcludes, rootPlacesOf, storedPathMatches } from "../../src/domain/ExcludeRules.ts"

const excluded = (patterns: Array<string>, abs: string) => {
  const rules = parseExcludes(patterns)
  if ("error" in rules) throw new Error(rules.error)
  return isExcluded(rules, abs, abs.slice(abs.lastIndexOf("/") + 1))
}

describe("ExcludeRules: backup --exclude with restic's rules", () => {
  it("a pattern without / matches a name at any depth", () => {
    assert.isTrue(excluded(["node_modules"], "/home/me/app/node_modules"))
    assert.isTrue(excluded(["*.log"], "/var/log/syslog.log"))
    assert.isFalse(excluded(["*.log"], "/var/log/syslog.log.1"))
    assert.isFalse(excluded(["node_modules"], "/home/me/node_modules_old"))
  })

  it("a pattern with / matches the end of the path; one starting with / the whole path", () => {
    assert.isTrue(excluded(["build/tmp"], "/src/app/build/tmp"))
    assert.isTrue(excluded(["build/tmp/"], "/build/tmp"))
    assert.isFalse(excluded(["build/tmp"], "/src/app/build/tmp2"))
    assert.isFalse(excluded(["build/tmp"], "/src/app/xbuild/tmp"))
    assert.isTrue(excluded(["/home/*/.cache"], "/home/al/.cache"))
    assert.isFalse(excluded(["/home/*/.cache"], "/srv/home/al/.cache"))
    assert.isTrue(excluded(["/srv/**/*.tmp"], "/srv/a/b/c.tmp"))
    assert.isTrue(excluded(["/srv/**/*.tmp"], "/srv/c.tmp"))
  })

  it("negated and malformed patterns are refused with the reason; blank ones are ignored", () => {
    assert.match((parseExcludes(["!keep"]) as { error: string }).error, /negated patterns/)
    assert.match((parseExcludes(["[z-a]"]) as { error: string }).error, /is not a valid pattern/)
    assert.deepStrictEqual(parseExcludes(["", "  "]), [])
  })

  it("--iexclude ignores case in names and paths; --exclude does not; errors name the flag", () => {
    const both = parseBothExcludes(["*.log"], ["*.jpg", "/Srv/Cache"])
    if ("error" in both) throw new Error(both.error)
    assert.isTrue(isExcluded(both, "/a/IMG.JPG", "IMG.JPG"))
    assert.isTrue(isExcluded(both, "/srv/cache", "cache"))
    assert.isTrue(isExcluded(both, "/x/a.log", "a.log"))
    assert.isFalse(isExcluded(both, "/x/A.LOG", "A.LOG"))
    assert.match((parseBothExcludes([], ["!x"]) as { error: string }).error, /^--iexclude !x: negated patterns/)
  })

  it("exclude files: one pattern per line, # comments and blank lines skipped, whitespace trimmed", () => {
    assert.deepStrictEqual(listFileLines("# c\n\n  *.o  \r\nbuild/\n"), ["*.o", "build/"])
  })

  it("a stored path matches a pattern of its stored form or, given where its root was, of its original path", () => {
    const places = rootPlacesOf(["/srv/data", "/home/me/", "/"])
    assert.deepStrictEqual([...places], [["data", "/srv"], ["me", "/home"]])
    const rules = (patterns: Array<string>) => {
      const r = parseExcludes(patterns)
      if ("error" in r) throw new Error(r.error)
      return r
    }
    for (const pattern of ["/srv/data/tmp", "/data/tmp", "tmp", "/srv/data/*/x.log", "/srv/**/x.log"]) {
      assert.isTrue(storedPathMatches(rules([pattern]), "data/tmp/x.log", places), pattern)
    }
    assert.isFalse(storedPathMatches(rules(["/srv/data/tmp"]), "data/tmp/x.log"), "without places, the stored form only")
    assert.isFalse(storedPathMatches(rules(["/srv/data/tmp"]), "data/tmpfile", places))
    assert.isFalse(storedPathMatches(rules(["/other/data/tmp"]), "data/tmp/x.log", places))
    assert.isTrue(storedPathMatches(rules(["/home/me/.env"]), "me/.env", places))
    assert.isTrue(storedPathMatches(rules(["/srv"]), "data/a", places), "a directory above the root covers it")
  })
})
