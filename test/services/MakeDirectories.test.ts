import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { makeDirectories } from "../../src/services/MakeDirectories.ts"
import { tempDir } from "../support/cli.ts"

const codeOf = (f: () => void): string | undefined => {
  try {
    f()
    return undefined
  } catch (e) {
    return (e as { code?: string }).code
  }
}

describe("makeDirectories", () => {
  it("makes every missing directory, with the mode asked, and accepts those already there", () => {
    const root = tempDir()
    const deep = path.join(root, "a", "b", "c")
    makeDirectories(deep, 0o700)
    assert.isTrue(fs.statSync(deep).isDirectory())
    assert.strictEqual(fs.statSync(path.join(root, "a")).mode & 0o777, 0o700)
    makeDirectories(deep)
    makeDirectories(root)
    // Relative paths resolve from the working directory, as mkdir's do.
    const cwd = process.cwd()
    try {
      process.chdir(root)
      makeDirectories(path.join("x", "y"))
    } finally {
      process.chdir(cwd)
    }
    assert.isTrue(fs.statSync(path.join(root, "x", "y")).isDirectory())
    // A symlink to a directory counts as the directory.
    fs.symlinkSync(path.join(root, "a"), path.join(root, "link"))
    makeDirectories(path.join(root, "link", "b", "new"))
    assert.isTrue(fs.statSync(path.join(root, "a", "b", "new")).isDirectory())
  })

  it("fails as Node's mkdir does where a file is in the way", () => {
    const root = tempDir()
    const file = path.join(root, "file")
    fs.writeFileSync(file, "x")
    assert.strictEqual(codeOf(() => makeDirectories(file)), "EEXIST")
    assert.strictEqual(codeOf(() => makeDirectories(path.join(file, "a", "b"))), "ENOTDIR")
    assert.strictEqual(fs.readFileSync(file, "utf8"), "x")
  })

  it("names a symlink in the way and its target: one to nothing, one into a loop; follows none of them", () => {
    const root = tempDir()
    const errorOf = (f: () => void) => {
      try {
        f()
      } catch (e) {
        return e as { code?: string; message: string; symlink?: string }
      }
      assert.fail("made a directory through a broken symlink")
    }
    const nowhere = path.join(root, "nowhere")
    fs.symlinkSync(nowhere, path.join(root, "dangling"))
    fs.symlinkSync("loop", path.join(root, "loop"))
    for (const [dir, code, link, why] of [
      [path.join(root, "dangling"), "EEXIST", "dangling", "which does not exist"],
      [path.join(root, "dangling", "a", "b"), "ENOTDIR", "dangling", "which does not exist"],
      [path.join(root, "loop"), "EEXIST", "loop", "which leads into a loop of symlinks"],
      [path.join(root, "loop", "a"), "ELOOP", "loop", "which leads into a loop of symlinks"]
    ] as const) {
      const e = errorOf(() => makeDirectories(dir))
      assert.strictEqual(e.code, code, dir)
      const target = link === "loop" ? "loop" : nowhere
      assert.strictEqual(e.message, `${code}: '${path.join(root, link)}' is a symlink to '${target}', ${why}; make it lead to a directory, remove it, or choose another place`)
      assert.strictEqual(e.symlink, target)
    }
    assert.isFalse(fs.existsSync(nowhere))
  })

  // Node's recursive mkdir spins forever here (the reason this function exists), so the case runs
  // in a child process that a regression would leave to be killed, failing this test instead of
  // hanging the suite.
  it.skipIf(!fs.existsSync("/proc/self"))("ends with ENOENT where the filesystem cannot make the directory (/proc)", () => {
    const module = path.resolve(import.meta.dirname, "..", "..", "src", "services", "MakeDirectories.ts")
    const script = [
      `import { makeDirectories } from ${JSON.stringify(module)}`,
      `for (const dir of ["/proc/enigma-no-such-dir", "/proc/enigma-no-such-dir/a/b"]) {`,
      `  try { makeDirectories(dir); console.log("made") } catch (e) { console.log(e.code) }`,
      `}`
    ].join("\n")
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 })
    assert.isNull(r.signal, `killed after 60 s: ${r.stderr}`)
    assert.strictEqual(r.stdout, "ENOENT\nENOENT\n", r.stderr)
  })
})
