import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { enigma, json, makeTree, snapshotTree, tempDir, testArgon } from "../support/cli.ts"
import { type FakeSecretsManager, startFakeSecretsManager } from "../support/fakeSecretsManager.ts"

/**
 * key_provider = "aws-secretsmanager": the ML-KEM key in a Secrets Manager secret, through the
 * real AWS SDK against a FAKE Secrets Manager endpoint (test/support/fakeSecretsManager.ts).
 */
let fake: FakeSecretsManager
let env: Record<string, string>

beforeAll(async () => {
  fake = await startFakeSecretsManager()
  env = { AWS_ENDPOINT_URL_SECRETS_MANAGER: fake.url, AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test-secret" }
})
afterAll(() => fake.stop())

const vaultToml = (storage: string, secret: string, extra = "") =>
  `[enigma]\nkey_provider = "aws-secretsmanager"\nkem_secret_name = "${secret}"\naws_region = "us-east-1"\n${extra}\n[[providers]]\nname = "disk"\ntype = "Local"\nbucket = "${storage}"\n`

const oneLine = (s: string) => {
  assert.strictEqual(s.trimEnd().split("\n").length, 1, `one line expected: ${s}`)
  return s.trim()
}

describe("the ML-KEM key in AWS Secrets Manager", () => {
  it("init stores it there, not on disk; backup and restore use it; recover on a new machine needs it; a denied, missing or foreign secret stops the open in one line", () => {
    const root = tempDir()
    const storage = path.join(root, "storage")
    const dir = path.join(root, "repo")
    mkdirSync(dir)
    writeFileSync(path.join(dir, "enigma.toml"), vaultToml(storage, "enigma/kem-a"))
    const g = ["--config-dir", dir]
    const init = enigma([...g, "init", ...testArgon], env)
    assert.strictEqual(init.code, 0, init.stderr)
    assert.include(init.stdout, "ML-KEM key in aws-secretsmanager secret enigma/kem-a")
    assert.match(fake.get("enigma/kem-a")!, /^-----BEGIN PRIVATE KEY-----/)
    assert.deepStrictEqual(readdirSync(dir).filter((f) => f.endsWith(".pem")), [], "no key file on disk")

    const src = path.join(root, "data")
    makeTree(src)
    const b = json(enigma([...g, "backup", src, "--json"], env))
    const out = path.join(root, "out")
    assert.strictEqual(enigma([...g, "restore", b.backupId, out], env).code, 0)
    assert.deepStrictEqual(snapshotTree(path.join(out, "data")), snapshotTree(src))

    const wrong = enigma([...g, "list"], { ...env, ENIGMA_PASSPHRASE: "not it" })
    assert.strictEqual(wrong.code, 12)
    assert.match(oneLine(wrong.stderr), /or wrong ML-KEM key secret aws-secretsmanager:enigma\/kem-a/)

    // Access revoked: the passphrase alone does not open it.
    fake.deny(true)
    const denied = enigma([...g, "list"], env)
    fake.deny(false)
    assert.notStrictEqual(denied.code, 0)
    assert.match(oneLine(denied.stderr), /aws-secretsmanager:enigma\/kem-a.*cannot read the secret: AccessDeniedException/)

    // The secret gone (deleted in the console): named, and nothing else is touched.
    const pem = fake.get("enigma/kem-a")!
    fake.remove("enigma/kem-a")
    const gone = enigma([...g, "list"], env)
    assert.notStrictEqual(gone.code, 0)
    assert.match(oneLine(gone.stderr), /aws-secretsmanager:enigma\/kem-a.*the ML-KEM key secret does not exist/)

    // Another repository's key under that name: refused before any Argon2id, as for a key file.
    const other = path.join(root, "other")
    mkdirSync(other)
    writeFileSync(path.join(other, "enigma.toml"), vaultToml(path.join(root, "other-storage"), "enigma/kem-b"))
    assert.strictEqual(enigma(["--config-dir", other, "init", ...testArgon], env).code, 0)
    fake.set("enigma/kem-a", fake.get("enigma/kem-b")!)
    const foreign = enigma([...g, "list"], env)
    assert.notStrictEqual(foreign.code, 0)
    assert.match(oneLine(foreign.stderr), /belongs to another repository/)
    fake.set("enigma/kem-a", pem)

    // A new machine: the same enigma.toml and the passphrase, and the secret.
    const fresh = path.join(root, "fresh")
    mkdirSync(fresh)
    writeFileSync(path.join(fresh, "enigma.toml"), vaultToml(storage, "enigma/kem-a"))
    const recovered = enigma(["--config-dir", fresh, "recover"], env)
    assert.strictEqual(recovered.code, 0, recovered.stderr)
    assert.deepStrictEqual(json(enigma(["--config-dir", fresh, "list", "--json"], env)).map((x: { id: string }) => x.id), [b.backupId])
    const again = path.join(root, "again")
    assert.strictEqual(enigma(["--config-dir", fresh, "restore", b.backupId, again], env).code, 0)
    assert.deepStrictEqual(snapshotTree(path.join(again, "data")), snapshotTree(src))
  })

  it("init refuses a secret name in use (never overwrites it) and a config that names no secret or two places", () => {
    const root = tempDir()
    fake.set("enigma/taken", "someone else's secret")
    const cases: ReadonlyArray<readonly [string, RegExp]> = [
      [vaultToml(path.join(root, "s1"), "enigma/taken"), /aws-secretsmanager:enigma\/taken.*a secret of that name already exists; refusing to overwrite it/],
      [vaultToml(path.join(root, "s2"), "x").replace('kem_secret_name = "x"\n', ""), /enigma\.kem_secret_name: key_provider "aws-secretsmanager" needs the name of the secret/],
      [vaultToml(path.join(root, "s3"), "enigma/y", 'kem_key_path = "kem.pem"'), /kem_key_path is a local key file, and key_provider "aws-secretsmanager" keeps the ML-KEM key in the vault/],
      [`[enigma]\nkem_secret_name = "enigma/z"\n`, /kem_secret_name and aws_region are for a vault key_provider/]
    ]
    for (const [toml, says] of cases) {
      const dir = path.join(tempDir(), "repo")
      mkdirSync(dir)
      writeFileSync(path.join(dir, "enigma.toml"), toml)
      const r = enigma(["--config-dir", dir, "init", ...testArgon], env)
      assert.strictEqual(r.code, 1, toml)
      assert.match(oneLine(r.stderr), says)
      assert.isFalse(existsSync(path.join(dir, "keys.enc")), "no keyfile")
    }
    assert.strictEqual(fake.get("enigma/taken"), "someone else's secret")
    assert.isFalse(fake.get("enigma/y") !== undefined)
  })
})
