import { assert, describe, it } from "@effect/vitest"
import { listedFor, modeString, normalizeListDir } from "../../src/domain/Listing.ts"

describe("ls", () => {
  it("writes modes as ls -l does, setuid, setgid and sticky included", () => {
    assert.strictEqual(modeString("file", 0o644), "-rw-r--r--")
    assert.strictEqual(modeString("dir", 0o755), "drwxr-xr-x")
    assert.strictEqual(modeString("symlink", 0o777), "lrwxrwxrwx")
    assert.strictEqual(modeString("file", 0o4755), "-rwsr-xr-x")
    assert.strictEqual(modeString("file", 0o2644), "-rw-r-Sr--")
    assert.strictEqual(modeString("dir", 0o1777), "drwxrwxrwt")
    assert.strictEqual(modeString("dir", 0o1776), "drwxrwxrwT")
    // The kind bits of st_mode, if recorded, do not leak into the permission string.
    assert.strictEqual(modeString("file", 0o100600), "-rw-------")
  })

  it("picks what is directly in a directory, or everything beneath with recursive; a file picks itself", () => {
    const e = (path: string, kind: "file" | "dir" | "symlink" = "file") => ({ path, kind })
    assert.isTrue(listedFor("a", false, e("a/b")))
    assert.isFalse(listedFor("a", false, e("a/b/c")))
    assert.isTrue(listedFor("a", true, e("a/b/c")))
    assert.isFalse(listedFor("a", false, e("a", "dir")))
    assert.isFalse(listedFor("a", true, e("a", "dir")))
    assert.isTrue(listedFor("a/f", false, e("a/f")))
    assert.isFalse(listedFor("a", false, e("ab/c")))
    assert.isFalse(listedFor("a", true, e("ab")))
    assert.isTrue(listedFor("", false, e("top", "dir")))
    assert.isFalse(listedFor("", false, e("top/x")))
    assert.deepStrictEqual(["/", "", "/a/b/", "a//", "a"].map(normalizeListDir), ["", "", "a/b", "a", "a"])
  })
})
