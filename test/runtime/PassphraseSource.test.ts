import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { newPassphraseSource, passphraseSource, readPassphraseSource } from "../../src/runtime/PassphraseSource.ts"

const none = { passphrase: undefined, passphraseFile: undefined, passphraseCommand: undefined }

describe("which passphrase source a command line and environment name", () => {
  it("a flag wins over every variable; variables are read when no flag is given", () => {
    const env = { ENIGMA_PASSPHRASE: "env", ENIGMA_PASSPHRASE_FILE: undefined }
    assert.deepStrictEqual(passphraseSource({ ...none, passphraseFile: "/f" }, env), { source: { kind: "file", origin: "--passphrase-file", path: "/f" } })
    assert.deepStrictEqual(passphraseSource({ ...none, passphraseCommand: "pass show x" }, { ENIGMA_PASSPHRASE_FILE: "/g" }), {
      source: { kind: "command", origin: "--passphrase-command", command: "pass show x" }
    })
    assert.deepStrictEqual(passphraseSource(none, env), { source: { kind: "value", origin: "ENIGMA_PASSPHRASE", value: "env" } })
    assert.deepStrictEqual(passphraseSource(none, { ENIGMA_PASSPHRASE_COMMAND: "c" }), { source: { kind: "command", origin: "ENIGMA_PASSPHRASE_COMMAND", command: "c" } })
    assert.deepStrictEqual(passphraseSource(none, {}), { source: undefined })
    // An empty variable is unset; an empty flag was given on purpose.
    assert.deepStrictEqual(passphraseSource(none, { ENIGMA_PASSPHRASE: "", ENIGMA_PASSPHRASE_FILE: "/f" }), {
      source: { kind: "file", origin: "ENIGMA_PASSPHRASE_FILE", path: "/f" }
    })
    assert.deepStrictEqual(passphraseSource({ ...none, passphrase: "" }, {}), { source: { kind: "value", origin: "--passphrase", value: "" } })
  })

  it("two sources at the same level are an error naming both, not a silent choice", () => {
    const flags = passphraseSource({ ...none, passphrase: "p", passphraseFile: "/f" }, {})
    assert.deepStrictEqual(flags, {
      error: "--passphrase and --passphrase-file were both given; give only one of --passphrase, --passphrase-file and --passphrase-command"
    })
    const env = passphraseSource(none, { ENIGMA_PASSPHRASE_FILE: "/f", ENIGMA_PASSPHRASE_COMMAND: "c" })
    assert.deepStrictEqual(env, { error: "ENIGMA_PASSPHRASE_FILE and ENIGMA_PASSPHRASE_COMMAND are both set; set only one (or give a flag, which wins)" })
    // A flag settles what the variables leave open.
    assert.deepStrictEqual(passphraseSource({ ...none, passphrase: "p" }, { ENIGMA_PASSPHRASE_FILE: "/f", ENIGMA_PASSPHRASE_COMMAND: "c" }), {
      source: { kind: "value", origin: "--passphrase", value: "p" }
    })
    assert.deepStrictEqual(newPassphraseSource({ newPassphrase: undefined, newPassphraseFile: undefined }, { ENIGMA_NEW_PASSPHRASE: "a", ENIGMA_NEW_PASSPHRASE_FILE: "/f" }), {
      error: "ENIGMA_NEW_PASSPHRASE and ENIGMA_NEW_PASSPHRASE_FILE are both set; set only one (or give a flag, which wins)"
    })
  })
})

describe("reading a passphrase file or command", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "enigma-passphrase-"))
  const file = (name: string, content: string | Buffer) => {
    const p = path.join(dir, name)
    fs.writeFileSync(p, content)
    return p
  }
  const read = (p: string) => readPassphraseSource({ kind: "file", origin: "--passphrase-file", path: p })
  const run = (command: string) => readPassphraseSource({ kind: "command", origin: "--passphrase-command", command })

  it("a file: trailing line ends dropped, inner and surrounding spaces kept", () => {
    assert.deepStrictEqual(read(file("lf", "secret\n")), { value: "secret" })
    assert.deepStrictEqual(read(file("crlf", "secret\r\n\r\n")), { value: "secret" })
    assert.deepStrictEqual(read(file("spaces", " two words \n")), { value: " two words " })
    assert.deepStrictEqual(read(file("inner", "line1\nline2")), { value: "line1\nline2" })
  })

  it("a file that is missing, a directory, empty, unreadable or far too large: an error naming it and what to do", () => {
    assert.match((read(path.join(dir, "missing")) as { error: string }).error, /^passphrase file .*missing \(--passphrase-file\) does not exist; give the file/)
    assert.match((read(dir) as { error: string }).error, /is a directory/)
    assert.match((read(file("empty", "\n")) as { error: string }).error, /is empty; write the passphrase into it/)
    assert.match((read(file("big", Buffer.alloc(100_000, 1))) as { error: string }).error, /is 100000 bytes; a passphrase file holds the passphrase alone/)
    if (process.getuid?.() !== 0) {
      const locked = file("locked", "secret")
      fs.chmodSync(locked, 0)
      assert.match((read(locked) as { error: string }).error, /is not readable by this user/)
    }
  })

  it("a command: what it prints, without trailing line ends; it fails, prints nothing or is killed: an error that does not repeat it", () => {
    assert.deepStrictEqual(run("printf 'from a command\\n'"), { value: "from a command" })
    const failed = run("exit 3 # hidden-secret") as { error: string }
    assert.strictEqual(failed.error, "the passphrase command (--passphrase-command) failed with exit code 3; run it by hand to see why")
    assert.match((run("true") as { error: string }).error, /printed nothing; it should print the passphrase on stdout/)
    assert.match((run("kill -TERM $$") as { error: string }).error, /was killed by SIGTERM/)
    // Its stdin is not the caller's (a put's data): a read there finds nothing.
    assert.deepStrictEqual(run("read -r line; printf 'got:%s' \"$line\""), { value: "got:" })
  })
})
