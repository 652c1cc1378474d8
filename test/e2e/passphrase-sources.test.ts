import { assert, describe, it } from "@effect/vitest"
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { enigma, enigmaPipe, tempDir } from "../support/cli.ts"

/** No passphrase from the environment the tests run in: each case gives its own. */
const clean = { ENIGMA_PASSPHRASE: undefined, ENIGMA_PASSPHRASE_FILE: undefined, ENIGMA_PASSPHRASE_COMMAND: undefined }

const oneLine = (stderr: string) => {
  const lines = stderr.trim().split("\n")
  assert.strictEqual(lines.length, 1, stderr)
  return lines[0]!
}

describe("the passphrase from a file or a command (restic's --password-file / --password-command)", () => {
  it("init, backup, list, put and get with a passphrase file or command; trailing newlines dropped; a flag wins over the environment", () => {
    const root = tempDir()
    const dir = path.join(root, "repo")
    const file = path.join(root, "passphrase")
    writeFileSync(file, "from a file\n", { mode: 0o600 })
    const g = ["--config-dir", dir]

    assert.strictEqual(enigma([...g, "--passphrase-file", file, "init"], clean).code, 0)
    const data = path.join(root, "data")
    mkdirSync(data)
    writeFileSync(path.join(data, "a.txt"), "hello")
    assert.strictEqual(enigma([...g, "backup", data], { ...clean, ENIGMA_PASSPHRASE_FILE: file }).code, 0)
    // The same passphrase given as a value: the file's newline was not part of it.
    assert.match(enigma([...g, "list"], { ...clean, ENIGMA_PASSPHRASE: "from a file" }).stdout, /1 backup/)
    assert.strictEqual(enigma([...g, "--passphrase-command", `cat '${file}'`, "list"], clean).code, 0)
    assert.strictEqual(enigma([...g, "list"], { ...clean, ENIGMA_PASSPHRASE_COMMAND: `cat '${file}'` }).code, 0)
    assert.strictEqual(enigma([...g, "--passphrase-file", file, "list"], { ...clean, ENIGMA_PASSPHRASE: "wrong" }).code, 0)

    // put reads its data from stdin: a passphrase command does not get to read any of it.
    const input = Buffer.from("line one\nline two\n")
    const put = enigmaPipe([...g, "--passphrase-command", `read -r first; cat '${file}'`, "put", "notes"], input, clean)
    assert.strictEqual(put.code, 0, put.stderr)
    const got = enigmaPipe([...g, "--passphrase-file", file, "get", "notes"], undefined, clean)
    assert.strictEqual(got.code, 0, got.stderr)
    assert.deepStrictEqual(got.stdout, input)
  })

  it("a missing, empty or unreadable file, a failing command, two sources: one line naming it, exit 1, nothing created", () => {
    const root = tempDir()
    const dir = path.join(root, "repo")
    const g = ["--config-dir", dir]
    const empty = path.join(root, "empty")
    writeFileSync(empty, "\n")
    const right = path.join(root, "right")
    writeFileSync(right, "right")

    const cases: Array<[Array<string>, Record<string, string | undefined>, RegExp]> = [
      [["--passphrase-file", path.join(root, "missing")], {}, /^enigma: passphrase file .*missing \(--passphrase-file\) does not exist; give the file that holds the passphrase$/],
      [["--passphrase-file", empty], {}, /passphrase file .*empty \(--passphrase-file\) is empty; write the passphrase into it/],
      [["--passphrase-file", root], {}, /is a directory/],
      [[], { ENIGMA_PASSPHRASE_COMMAND: "exit 7" }, /the passphrase command \(ENIGMA_PASSPHRASE_COMMAND\) failed with exit code 7; run it by hand/],
      [["--passphrase-command", "true"], {}, /the passphrase command \(--passphrase-command\) printed nothing/],
      [["--passphrase", "x", "--passphrase-file", right], {}, /--passphrase and --passphrase-file were both given; give only one of --passphrase, --passphrase-file and --passphrase-command/],
      [[], { ENIGMA_PASSPHRASE: "x", ENIGMA_PASSPHRASE_FILE: right }, /ENIGMA_PASSPHRASE and ENIGMA_PASSPHRASE_FILE are both set; set only one/]
    ]
    for (const [flags, env, expected] of cases) {
      const r = enigma([...g, ...flags, "init"], { ...clean, ...env })
      assert.strictEqual(r.code, 1, `${flags.join(" ")} ${JSON.stringify(env)}: ${r.stderr}`)
      assert.match(oneLine(r.stderr), expected)
      assert.isFalse(existsSync(dir) && readdirSync(dir).length > 0, `init left files behind for ${flags.join(" ")}`)
    }

    // A file holding the wrong passphrase is a wrong passphrase (exit 12), not a file problem.
    assert.strictEqual(enigma([...g, "--passphrase-file", right, "init"], clean).code, 0)
    const wrong = path.join(root, "wrong")
    writeFileSync(wrong, "wrong\n")
    const r = enigma([...g, "--passphrase-file", wrong, "list"], clean)
    assert.strictEqual(r.code, 12)
    assert.match(oneLine(r.stderr), /wrong passphrase/)
  })

  it("key passwd --new-passphrase-file: the new passphrase opens, the old no longer does", () => {
    const root = tempDir()
    const g = ["--config-dir", path.join(root, "repo")]
    const [oldFile, newFile] = [path.join(root, "old"), path.join(root, "new")]
    writeFileSync(oldFile, "old passphrase\n")
    writeFileSync(newFile, "new passphrase\n")
    assert.strictEqual(enigma([...g, "--passphrase-file", oldFile, "init"], clean).code, 0)
    const changed = enigma([...g, "--passphrase-file", oldFile, "key", "passwd", "--new-passphrase-file", newFile], clean)
    assert.strictEqual(changed.code, 0, changed.stderr)
    assert.strictEqual(enigma([...g, "--passphrase-file", oldFile, "list"], clean).code, 12)
    assert.strictEqual(enigma([...g, "list"], { ...clean, ENIGMA_PASSPHRASE: "new passphrase" }).code, 0)
    const missing = enigma([...g, "--passphrase-file", newFile, "key", "passwd", "--new-passphrase-file", path.join(root, "nope")], clean)
    assert.strictEqual(missing.code, 1)
    assert.match(oneLine(missing.stderr), /passphrase file .*nope \(--new-passphrase-file\) does not exist/)
    assert.strictEqual(enigma([...g, "--passphrase-file", newFile, "list"], clean).code, 0)
  })
})
