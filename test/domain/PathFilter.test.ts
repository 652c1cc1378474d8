import { assert, describe, it } from "@effect/vitest"
import { ancestors, findMatches, isSafeRelativePath, matchesGlob, matchesPrefix } from "../../src/domain/PathFilter.ts"

describe("PathFilter", () => {
  it("refuses paths that could escape the destination", () => {
    for (const bad of ["", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a\\b", "a/\0"]) {
      assert.isFalse(isSafeRelativePath(bad), bad)
    }
    for (const ok of ["a", "a/b.txt", "..a/b", "a/.hidden", "a/b..c"]) assert.isTrue(isSafeRelativePath(ok), ok)
  })

  it("--path prefixes match whole segments", () => {
    assert.isTrue(matchesPrefix("docs/a.txt", "docs"))
    assert.isTrue(matchesPrefix("docs/a.txt", "docs/"))
    assert.isTrue(matchesPrefix("docs/a.txt", "/docs"))
    assert.isTrue(matchesPrefix("docs/a.txt", "/"))
    assert.isTrue(matchesPrefix("docs", "docs"))
    assert.isFalse(matchesPrefix("docsx/a.txt", "docs"))
  })

  it("globs: name patterns, path patterns, ** and classes", () => {
    assert.isTrue(matchesGlob("src/deep/main.rs", "*.rs"))
    assert.isFalse(matchesGlob("src/main.rs.bak", "*.rs"))
    assert.isTrue(matchesGlob("src/deep/main.rs", "src/**/*.rs"))
    assert.isTrue(matchesGlob("src/main.rs", "src/**/*.rs"))
    assert.isFalse(matchesGlob("lib/main.rs", "src/*.rs"))
    assert.isTrue(matchesGlob("a/file1.txt", "file[0-9].txt"))
    assert.isFalse(matchesGlob("a/fileA.txt", "file[!A-Z].txt"))
    assert.isTrue(matchesGlob("a/f.c", "?.c"))
    assert.isTrue(matchesGlob("a/x+y.txt", "x+y.txt"))
  })

  it("ancestors", () => {
    assert.deepStrictEqual(ancestors("a/b/c"), ["a", "a/b"])
    assert.deepStrictEqual(ancestors("a"), [])
  })

  it("find matches a name, an absolute path (stored or original) or any tail of the path, as restic's find", () => {
    const stored = "t/sub/.env"
    for (const pattern of [".env", "*.env", "/t/sub/.env", "/abs/t/sub/.env", "/abs/**/.env", "sub/.env", "t/sub/.env", "sub/*"]) {
      assert.isTrue(findMatches(stored, pattern, "/abs"), pattern)
    }
    for (const pattern of ["/sub/.env", "/abs/t/.env", "ub/.env", "/other/t/sub/.env", "env"]) {
      assert.isFalse(findMatches(stored, pattern, "/abs"), pattern)
    }
    assert.isFalse(findMatches(stored, "/abs/t/sub/.env", undefined))
  })
})
