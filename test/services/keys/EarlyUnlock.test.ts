import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Redacted } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { argonInputs } from "../../../src/domain/KeystoreLayout.ts"
import { earlyUnlockInputs, startEarlyUnlock } from "../../../src/runtime/EarlyUnlock.ts"
import { argon2idKey, earlyArgon2idPending } from "../../../src/services/keys/Argon2id.ts"
import { Keys } from "../../../src/services/keys/Keys.ts"
import { enigmaBin } from "../../support/cli.ts"

const fast = { memory: 8192, passes: 1, parallelism: 1 }

/** A config dir as `init` leaves it: enigma.toml (optionally naming the keyfile) and a keystore. */
const configDir = (toml: string, keyfileName: string, passphrase: string) =>
  Effect.gen(function*() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "enigma-early-"))
    fs.writeFileSync(path.join(dir, "enigma.toml"), toml)
    yield* Keys.use((k) =>
      k.create({ keyfilePath: path.join(dir, keyfileName), passphrase: Redacted.make(passphrase), kemMode: "embedded", argon: fast })
    )
    return dir
  })

describe("early unlock: the launcher's reading of the command line", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "enigma-early-args-"))
  fs.writeFileSync(path.join(dir, "enigma.toml"), "[enigma]\nkeyfile_path = \"secrets/ks.bin\"\n")
  const other = path.join(dir, "elsewhere.toml")
  fs.writeFileSync(other, "[enigma]\n")
  const env = { ENIGMA_PASSPHRASE: "from-env" }

  it("finds the keyfile the config names, relative to its dir, and the passphrase the CLI would use", () => {
    assert.deepStrictEqual(earlyUnlockInputs(["--config-dir", dir, "list"], env), { passphrase: "from-env", keyfile: path.join(dir, "secrets/ks.bin"), hint: undefined })
    assert.deepStrictEqual(earlyUnlockInputs([`--config-dir=${dir}`, "restore", "latest", "/tmp/x", "--passphrase", "flag"], env), {
      passphrase: "flag",
      keyfile: path.join(dir, "secrets/ks.bin"),
      hint: undefined
    })
    // --config names the file itself; without keyfile_path the default sits beside it.
    assert.deepStrictEqual(earlyUnlockInputs(["put", "db", "--config", other], env), { passphrase: "from-env", keyfile: path.join(dir, "keys.enc"), hint: undefined })
    assert.deepStrictEqual(earlyUnlockInputs(["backup", "."], { ...env, ENIGMA_CONFIG_DIR: dir }), { passphrase: "from-env", keyfile: path.join(dir, "secrets/ks.bin"), hint: undefined })
  })

  it("reads a passphrase file as the CLI will (flag or variable), and leaves a passphrase command to the CLI, which runs it once", () => {
    const file = path.join(dir, "passphrase")
    fs.writeFileSync(file, "from-file\n")
    const keyfile = path.join(dir, "secrets/ks.bin")
    // The flag's value is not taken for the command name.
    assert.deepStrictEqual(earlyUnlockInputs(["--passphrase-file", file, "--config-dir", dir, "list"], env), { passphrase: "from-file", keyfile, hint: undefined })
    assert.deepStrictEqual(earlyUnlockInputs(["--config-dir", dir, "list"], { ENIGMA_PASSPHRASE_FILE: file }), { passphrase: "from-file", keyfile, hint: undefined })
    assert.isUndefined(earlyUnlockInputs(["--passphrase-command", `cat ${file}`, "--config-dir", dir, "list"], env))
    assert.isUndefined(earlyUnlockInputs(["--config-dir", dir, "list"], { ENIGMA_PASSPHRASE_COMMAND: `cat ${file}` }))
    // Two sources, or a file that cannot be read: the CLI reports it; nothing starts here.
    assert.isUndefined(earlyUnlockInputs(["--config-dir", dir, "list"], { ENIGMA_PASSPHRASE: "a", ENIGMA_PASSPHRASE_FILE: file }))
    assert.isUndefined(earlyUnlockInputs(["--passphrase-file", path.join(dir, "missing"), "--config-dir", dir, "list"], {}))
  })

  it("every command that opens a keystore is one the launcher starts the derivation for", () => {
    const help = execFileSync(process.execPath, [enigmaBin, "--help"], { encoding: "utf8" })
    const commands = help.slice(help.indexOf("SUBCOMMANDS")).split("\n").slice(1).map((l) => l.trim().split(/\s+/)[0]!).filter((c) => c !== "")
    assert.includeMembers(commands, ["backup", "init", "tag", "proxy"])
    const openNoKeystore = ["init", "config", "encrypt-cred", "recover"]
    for (const command of commands) {
      assert.strictEqual(earlyUnlockInputs(["--config-dir", dir, command], env) !== undefined, !openNoKeystore.includes(command), command)
    }
  })

  it("starts nothing for commands that open no keystore, for help, for --repo, or without a passphrase", () => {
    for (const args of [["init"], ["encrypt-cred", "x"], ["recover"], ["config"], ["list", "--help"], ["--version"], ["-h"], []]) {
      assert.isUndefined(earlyUnlockInputs(["--config-dir", dir, ...args], env), args.join(" "))
    }
    assert.isUndefined(earlyUnlockInputs(["--repo", "file:///tmp/r", "--key", "env:K", "put", "x"], env))
    assert.isUndefined(earlyUnlockInputs(["--config-dir", dir, "get", "x"], { ...env, ENIGMA_REPO: "file:///tmp/r" }))
    assert.isUndefined(earlyUnlockInputs(["--config-dir", dir, "list"], {}))
    assert.isUndefined(earlyUnlockInputs(["--config-dir", dir, "list"], { ENIGMA_PASSPHRASE: "" }))
  })

  it("a missing config, bad TOML or a file that is no keyfile: nothing started, nothing thrown", () => {
    startEarlyUnlock(["--config-dir", path.join(dir, "missing"), "list"], env)
    const bad = fs.mkdtempSync(path.join(os.tmpdir(), "enigma-early-bad-"))
    fs.writeFileSync(path.join(bad, "enigma.toml"), "[enigma\n")
    startEarlyUnlock(["--config-dir", bad, "list"], env)
    fs.writeFileSync(path.join(bad, "enigma.toml"), "")
    fs.writeFileSync(path.join(bad, "keys.enc"), "not a keyfile, though long enough to hold a header start")
    startEarlyUnlock(["--config-dir", bad, "list"], env)
    assert.isFalse(earlyArgon2idPending())
    assert.isUndefined(argonInputs(new Uint8Array(10)))
  })
})

describe("early unlock: the keystore takes the early key only for the same inputs", () => {
  it.effect("--key-hint (or ENIGMA_KEY_HINT) derives for that passphrase slot, and the open, trying it first, takes it", () =>
    Effect.gen(function*() {
      const dir = yield* configDir("", "keys.enc", "first")
      const keyfilePath = path.join(dir, "keys.enc")
      const ring = yield* Keys.use((k) => k.open({ keyfilePath, passphrase: Redacted.make("first") }))
      yield* Keys.use((k) => k.addPassphrase(ring, keyfilePath, Redacted.make("first"), Redacted.make("second"), "two"))
      yield* Keys.use((k) => k.addPassphrase(ring, keyfilePath, Redacted.make("first"), Redacted.make("third"), "three"))
      assert.strictEqual(earlyUnlockInputs(["--config-dir", dir, "list", "--key-hint", "3"], { ENIGMA_PASSPHRASE: "third" })?.hint, 3)
      assert.strictEqual(earlyUnlockInputs(["--config-dir", dir, "list"], { ENIGMA_PASSPHRASE: "third", ENIGMA_KEY_HINT: "2" })?.hint, 2)
      startEarlyUnlock(["--config-dir", dir, "list", "--key-hint", "3"], { ENIGMA_PASSPHRASE: "third" })
      assert.isTrue(earlyArgon2idPending())
      const opened = yield* Keys.use((k) => k.open({ keyfilePath, passphrase: Redacted.make("third"), hint: 3 }))
      assert.strictEqual(opened.passphraseId, 3)
      assert.isFalse(earlyArgon2idPending(), "the open took the early key of slot 3")
      // A hint naming no slot starts nothing early; the open tries every slot.
      startEarlyUnlock(["--config-dir", dir, "list", "--key-hint", "9"], { ENIGMA_PASSPHRASE: "second" })
      assert.isFalse(earlyArgon2idPending())
      assert.strictEqual((yield* Keys.use((k) => k.open({ keyfilePath, passphrase: Redacted.make("second"), hint: 9 }))).passphraseId, 2)
    }).pipe(Effect.provide(Keys.layer)))


  it.effect("the same passphrase and keyfile: the open takes it, and opens the keystore", () =>
    Effect.gen(function*() {
      const dir = yield* configDir("", "keys.enc", "right")
      startEarlyUnlock(["--config-dir", dir, "list"], { ENIGMA_PASSPHRASE: "right" })
      assert.isTrue(earlyArgon2idPending())
      const ring = yield* Keys.use((k) => k.open({ keyfilePath: path.join(dir, "keys.enc"), passphrase: Redacted.make("right") }))
      assert.isFalse(earlyArgon2idPending())
      assert.lengthOf(ring.keyIds, 1)
    }).pipe(Effect.provide(Keys.layer)))

  it.effect("a wrong passphrase given early is still a wrong passphrase, and a right one given later still opens", () =>
    Effect.gen(function*() {
      const dir = yield* configDir("", "keys.enc", "right")
      const keyfilePath = path.join(dir, "keys.enc")
      startEarlyUnlock(["--config-dir", dir, "list", "--passphrase", "wrong"], {})
      const wrong = yield* Effect.exit(Keys.use((k) => k.open({ keyfilePath, passphrase: Redacted.make("wrong") })))
      assert.isTrue(Exit.isFailure(wrong))
      assert.include(String(wrong), "WrongPassphrase")
      assert.isFalse(earlyArgon2idPending())
      // Early with one passphrase, opened with another: derived afresh, the early key left alone.
      startEarlyUnlock(["--config-dir", dir, "list", "--passphrase", "wrong"], {})
      const ring = yield* Keys.use((k) => k.open({ keyfilePath, passphrase: Redacted.make("right") }))
      assert.lengthOf(ring.keyIds, 1)
      assert.isTrue(earlyArgon2idPending())
      // Taken by the request it was made for (and so cleared for the next test).
      const bytes = fs.readFileSync(keyfilePath)
      const inputs = argonInputs(bytes)!
      yield* Effect.promise(() => argon2idKey("wrong", inputs.salt, inputs.argon))
      assert.isFalse(earlyArgon2idPending())
    }).pipe(Effect.provide(Keys.layer)))
})
