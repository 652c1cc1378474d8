import { assert, describe, it } from "@effect/vitest"
import { existsSync, readFileSync } from "node:fs"
import * as path from "node:path"
import { argonInputs, slotArgonInputs } from "../../src/domain/KeystoreLayout.ts"
import { enigma, tempDir } from "../support/cli.ts"

const oneLine = (s: string) => {
  assert.strictEqual(s.trimEnd().split("\n").length, 1, `one line expected: ${s}`)
  return s.trim()
}

describe("init --argon2-memory / --argon2-passes / --argon2-lanes", () => {
  it("records the chosen cost for the passphrase and for every one added later", () => {
    const dir = path.join(tempDir(), "repo")
    const g = ["--config-dir", dir]
    assert.strictEqual(enigma([...g, "init", "--argon2-memory", "12M", "--argon2-passes", "3", "--argon2-lanes", "2"]).code, 0)
    const want = { memory: 12 * 1024, passes: 3, parallelism: 2 }
    assert.deepStrictEqual(argonInputs(readFileSync(path.join(dir, "keys.enc")))?.argon, want)
    assert.strictEqual(enigma([...g, "key", "add", "--new-passphrase", "second passphrase"]).code, 0)
    assert.deepStrictEqual(slotArgonInputs(readFileSync(path.join(dir, "keys.enc")), 2)?.argon, want)
    assert.strictEqual(enigma([...g, "list"], { ENIGMA_PASSPHRASE: "second passphrase" }).code, 0)
    assert.strictEqual(enigma([...g, "list"], { ENIGMA_PASSPHRASE: "wrong" }).code, 12)
  })

  it("refuses a cost under OWASP's minimum, a bad size or lane count, in one line, creating nothing", () => {
    for (const [flags, says] of [
      [["--argon2-memory", "8M", "--argon2-passes", "1"], /under the floor of 36 .*--argon2-memory/],
      [["--argon2-memory", "17M", "--argon2-passes", "2"], /memory × passes is 34 MiB, under the floor/],
      [["--argon2-memory", "64 lots"], /--argon2-memory 64 lots is not a size/],
      [["--argon2-memory", "1000"], /not a size in whole KiB/],
      [["--argon2-lanes", "0"], /parallelism 0 is outside 1\.\.64/],
      [["--argon2-memory", "8G"], /outside 8192\.\.4194304 KiB/]
    ] as const) {
      const dir = path.join(tempDir(), "repo")
      const r = enigma(["--config-dir", dir, "init", ...flags])
      assert.strictEqual(r.code, 1, flags.join(" "))
      assert.match(oneLine(r.stderr), says)
      assert.isFalse(existsSync(dir), `${flags.join(" ")}: nothing is created`)
    }
  })
})
