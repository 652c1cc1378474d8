import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { enigma, json, makeTree, snapshotTree, tempDir, testArgon } from "../support/cli.ts"
import { type FakeVault, startFakeVault } from "../support/fakeVault.ts"

/**
 * The vault key providers: the ML-KEM key in AWS Secrets Manager (through the real AWS SDK),
 * Google Cloud Secret Manager or Azure Key Vault (their REST APIs; Azure's tokens through the real
 * `@azure/identity`), all against FAKE endpoints (test/support/fakeVaultServer.ts): no offline
 * server exists for any.
 */
let fake: FakeVault
let env: Record<string, string>

beforeAll(async () => {
  fake = await startFakeVault()
  env = { AWS_ENDPOINT_URL_SECRETS_MANAGER: fake.url, AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test-secret", ...fake.azureEnv }
})
afterAll(() => fake.stop())

interface Vault {
  readonly provider: string
  /** The [enigma] lines that put the key in secret `name`. */
  readonly fields: (name: string) => string
  /** The fake's key for secret `name`. */
  readonly key: (name: string) => string
  readonly where: (name: string) => string
  readonly denied: RegExp
  readonly missing: RegExp
}

const vaults: ReadonlyArray<Vault> = [
  {
    provider: "aws-secretsmanager",
    fields: (name) => `key_provider = "aws-secretsmanager"\nkem_secret_name = "enigma/${name}"\naws_region = "us-east-1"\n`,
    key: (name) => `enigma/${name}`,
    where: (name) => `aws-secretsmanager:enigma/${name}`,
    denied: /cannot read the secret: AccessDeniedException/,
    missing: /the ML-KEM key secret does not exist \(AWS keeps a deleted secret 7 to 30 days/
  },
  {
    provider: "gcp-secretmanager",
    fields: (name) => `key_provider = "gcp-secretmanager"\nkem_secret_name = "enigma-${name}"\ngcp_project_id = "backup-prj"\ngcp_endpoint_url = "${fake.url}"\n`,
    key: (name) => `backup-prj/enigma-${name}`,
    where: (name) => `gcp-secretmanager:projects/backup-prj/secrets/enigma-${name}`,
    denied: /cannot read the secret: PERMISSION_DENIED/,
    missing: /the ML-KEM key secret does not exist or has no enabled version/
  },
  {
    provider: "azure-keyvault",
    fields: (name) => `key_provider = "azure-keyvault"\nkem_secret_name = "enigma-${name}"\nvault_url = "${fake.vaultUrl}"\n`,
    key: (name) => `azure/enigma-${name}`,
    where: (name) => `azure-keyvault:${fake.vaultUrl}secrets/enigma-${name}`,
    // Key Vault's two-line RBAC message, on one.
    denied: /cannot read the secret: Forbidden \(ForbiddenByRbac\): Caller is not authorized to perform action on resource\. If role assignments/,
    missing: /the ML-KEM key secret does not exist \(Key Vault keeps a deleted secret 7 to 90 days/
  }
]

const toml = (fields: string, storage: string) => `[enigma]\n${fields}\n[[providers]]\nname = "disk"\ntype = "Local"\nbucket = "${storage}"\n`
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")

const oneLine = (s: string) => {
  assert.strictEqual(s.trimEnd().split("\n").length, 1, `one line expected: ${s}`)
  return s.trim()
}

describe("the ML-KEM key in a cloud secret store", () => {
  for (const v of vaults) {
    it(`${v.provider}: init stores it there, not on disk; backup and restore use it; recover on a new machine needs it; a denied, missing or foreign secret stops the open in one line`, () => {
      const root = tempDir()
      const storage = path.join(root, "storage")
      const dir = path.join(root, "repo")
      mkdirSync(dir)
      writeFileSync(path.join(dir, "enigma.toml"), toml(v.fields("kem-a"), storage))
      const g = ["--config-dir", dir]
      const init = enigma([...g, "init", ...testArgon], env)
      assert.strictEqual(init.code, 0, init.stderr)
      assert.include(init.stdout, `ML-KEM key in ${v.provider} secret`)
      assert.match(fake.get(v.key("kem-a"))!, /^-----BEGIN PRIVATE KEY-----/)
      assert.deepStrictEqual(readdirSync(dir).filter((f) => f.endsWith(".pem")), [], "no key file on disk")

      const src = path.join(root, "data")
      makeTree(src)
      const b = json(enigma([...g, "backup", src, "--json"], env))
      const out = path.join(root, "out")
      assert.strictEqual(enigma([...g, "restore", b.backupId, out], env).code, 0)
      assert.deepStrictEqual(snapshotTree(path.join(out, "data")), snapshotTree(src))
      const wrong = enigma([...g, "list"], { ...env, ENIGMA_PASSPHRASE: "not it" })
      assert.strictEqual(wrong.code, 12)
      assert.match(oneLine(wrong.stderr), new RegExp(`or wrong ML-KEM key secret ${escape(v.where("kem-a"))}`))

      // A store that fails a call or two (503) is asked again; one that keeps failing stops the
      // open in one line, after a few attempts.
      fake.flaky(2)
      assert.strictEqual(enigma([...g, "list"], env).code, 0)
      fake.flaky(50)
      const down = enigma([...g, "list"], env)
      fake.flaky(0)
      assert.strictEqual(down.code, 1)
      assert.match(oneLine(down.stderr), new RegExp(`${escape(v.where("kem-a"))}: cannot read the secret: .*The service is currently unavailable`))

      // Access revoked: the passphrase alone does not open it.
      fake.deny(true)
      const denied = enigma([...g, "list"], env)
      fake.deny(false)
      assert.strictEqual(denied.code, 1)
      assert.match(oneLine(denied.stderr), new RegExp(`${escape(v.where("kem-a"))}: ${v.denied.source}`))

      // The secret gone (deleted in the console): named, with what may bring it back.
      const pem = fake.get(v.key("kem-a"))!
      fake.remove(v.key("kem-a"))
      const gone = enigma([...g, "list"], env)
      assert.strictEqual(gone.code, 1)
      assert.match(oneLine(gone.stderr), new RegExp(`${escape(v.where("kem-a"))}: ${v.missing.source}`))

      // Another repository's key under that name: refused before any Argon2id, as for a key file.
      const other = path.join(root, "other")
      mkdirSync(other)
      writeFileSync(path.join(other, "enigma.toml"), toml(v.fields("kem-b"), path.join(root, "other-storage")))
      assert.strictEqual(enigma(["--config-dir", other, "init", ...testArgon], env).code, 0)
      fake.set(v.key("kem-a"), fake.get(v.key("kem-b"))!)
      const foreign = enigma([...g, "list"], env)
      assert.strictEqual(foreign.code, 1)
      assert.match(oneLine(foreign.stderr), /belongs to another repository/)
      fake.set(v.key("kem-a"), pem)

      // A new machine: the same enigma.toml and the passphrase, and the secret.
      const fresh = path.join(root, "fresh")
      mkdirSync(fresh)
      writeFileSync(path.join(fresh, "enigma.toml"), toml(v.fields("kem-a"), storage))
      const recovered = enigma(["--config-dir", fresh, "recover"], env)
      assert.strictEqual(recovered.code, 0, recovered.stderr)
      assert.deepStrictEqual(json(enigma(["--config-dir", fresh, "list", "--json"], env)).map((x: { id: string }) => x.id), [b.backupId])
      const again = path.join(root, "again")
      assert.strictEqual(enigma(["--config-dir", fresh, "restore", b.backupId, again], env).code, 0)
      assert.deepStrictEqual(snapshotTree(path.join(again, "data")), snapshotTree(src))
    })

    it(`${v.provider}: init refuses a secret name in use (never overwrites it), and takes back the one it made when the keyfile cannot be written`, () => {
      fake.set(v.key("taken"), "someone else's secret")
      const dir = path.join(tempDir(), "repo")
      mkdirSync(dir)
      writeFileSync(path.join(dir, "enigma.toml"), toml(v.fields("taken"), path.join(dir, "storage")))
      const r = enigma(["--config-dir", dir, "init", ...testArgon], env)
      assert.strictEqual(r.code, 1)
      assert.match(oneLine(r.stderr), new RegExp(`${escape(v.where("taken"))}: a secret of that name already exists; refusing to overwrite it`))
      assert.isFalse(existsSync(path.join(dir, "keys.enc")), "no keyfile")
      assert.strictEqual(fake.get(v.key("taken")), "someone else's secret")

      // --kem-key-file with a secret-store config: two places for one key, refused.
      const both = enigma(["--config-dir", dir, "init", ...testArgon, "--kem-key-file", path.join(dir, "kem.pem")], env)
      assert.strictEqual(both.code, 1)
      assert.match(oneLine(both.stderr), new RegExp(`--kem-key-file keeps the ML-KEM key in a file, and .* has key_provider "${v.provider}", which keeps it in a secret`))
      assert.isFalse(existsSync(path.join(dir, "kem.pem")), "no key file")

      // The secret is made first; a keyfile that then cannot be written takes it back. (A name of
      // 250 bytes is free, but the keyfile's temp name beside it is over the 255 a name may have.)
      const unwritable = path.join(tempDir(), "repo")
      mkdirSync(unwritable)
      writeFileSync(path.join(unwritable, "enigma.toml"), toml(`${v.fields("orphan")}keyfile_path = "${"k".repeat(250)}"\n`, path.join(unwritable, "storage")))
      const failed = enigma(["--config-dir", unwritable, "init", ...testArgon], env)
      assert.strictEqual(failed.code, 1)
      assert.match(oneLine(failed.stderr), /k{250}: cannot write: ENAMETOOLONG/)
      assert.isUndefined(fake.get(v.key("orphan")), "no secret left behind")
      if (v.provider === "azure-keyvault") assert.isUndefined(fake.get("azure-deleted/enigma-orphan"), "purged, not only deleted: the name is free again")
    })
  }

  it("azure-keyvault: a refused token and the name of a deleted secret stop init or the open in one line", () => {
    const azure = vaults.find((v) => v.provider === "azure-keyvault")!
    const root = tempDir()
    const dir = path.join(root, "repo")
    mkdirSync(dir)
    writeFileSync(path.join(dir, "enigma.toml"), toml(azure.fields("tok"), path.join(root, "storage")))
    assert.strictEqual(enigma(["--config-dir", dir, "init", ...testArgon], env).code, 0)

    // The identity loses its token: the vault is never asked with none.
    fake.denyToken(true)
    const refused = enigma(["--config-dir", dir, "list"], env)
    fake.denyToken(false)
    assert.strictEqual(refused.code, 1)
    assert.match(oneLine(refused.stderr), new RegExp(`${escape(azure.where("tok"))}: cannot read the secret: cannot get an Azure access token: .*Identity not found`))
    assert.strictEqual(enigma(["--config-dir", dir, "list"], env).code, 0)

    // A deleted secret keeps its name until purged: init says so and makes nothing.
    fake.set("azure-deleted/enigma-binned", "an old key")
    const other = path.join(root, "other")
    mkdirSync(other)
    writeFileSync(path.join(other, "enigma.toml"), toml(azure.fields("binned"), path.join(root, "other-storage")))
    const binned = enigma(["--config-dir", other, "init", ...testArgon], env)
    assert.strictEqual(binned.code, 1)
    assert.match(oneLine(binned.stderr), /a deleted secret of that name is kept by the vault \(soft delete\); recover it .*, purge it, or choose another kem_secret_name/)
    assert.isFalse(existsSync(path.join(other, "keys.enc")), "no keyfile")
    assert.strictEqual(fake.get("azure-deleted/enigma-binned"), "an old key")
  })

  it("a config that names no secret, two places for the key, or fields of another vault is refused in one line", () => {
    const cases: ReadonlyArray<readonly [string, RegExp]> = [
      ['key_provider = "aws-secretsmanager"\n', /enigma\.kem_secret_name: key_provider "aws-secretsmanager" needs the name of the secret/],
      ['key_provider = "aws-secretsmanager"\nkem_secret_name = "x"\nkem_key_path = "kem.pem"\n', /kem_key_path is a local key file, and key_provider "aws-secretsmanager" keeps the ML-KEM key in the vault/],
      ['kem_secret_name = "enigma/z"\n', /enigma\.kem_secret_name is for a vault key_provider/],
      ['key_provider = "aws-secretsmanager"\nkem_secret_name = "x"\ngcp_project_id = "p"\n', /enigma\.gcp_project_id is for key_provider "gcp-secretmanager", and key_provider is "aws-secretsmanager"/],
      ['key_provider = "gcp-secretmanager"\nkem_secret_name = "x"\n', /enigma\.gcp_project_id: key_provider "gcp-secretmanager" needs the project/],
      ['key_provider = "gcp-secretmanager"\nkem_secret_name = "a/b"\ngcp_project_id = "p"\n', /enigma\.kem_secret_name "a\/b": a Secret Manager secret id has only letters, digits, - and _/],
      ['key_provider = "azure-keyvault"\nkem_secret_name = "x"\n', /enigma\.vault_url: key_provider "azure-keyvault" needs the vault's URL/],
      ['key_provider = "azure-keyvault"\nkem_secret_name = "x"\nvault_url = "http://v.vault.azure.net/"\n', /enigma\.vault_url "http:\/\/v\.vault\.azure\.net\/": a Key Vault URL starts with https:\/\//],
      ['key_provider = "azure-keyvault"\nkem_secret_name = "enigma_key"\nvault_url = "https://v.vault.azure.net/"\n', /enigma\.kem_secret_name "enigma_key": a Key Vault secret name has only letters, digits and -/],
      ['key_provider = "gcp-secretmanager"\nkem_secret_name = "x"\ngcp_project_id = "p"\nvault_url = "https://v.vault.azure.net/"\n', /enigma\.vault_url is for key_provider "azure-keyvault", and key_provider is "gcp-secretmanager"/],
      ['key_provider = "hashicorp"\n', /enigma\.key_provider/]
    ]
    for (const [fields, says] of cases) {
      const dir = path.join(tempDir(), "repo")
      mkdirSync(dir)
      writeFileSync(path.join(dir, "enigma.toml"), `[enigma]\n${fields}`)
      const r = enigma(["--config-dir", dir, "init", ...testArgon], env)
      assert.strictEqual(r.code, 1, fields)
      assert.match(oneLine(r.stderr), says)
      assert.isFalse(existsSync(path.join(dir, "keys.enc")), "no keyfile")
    }
  })
})
