import * as crypto from "node:crypto"
import * as fs from "node:fs/promises"
import { Effect } from "effect"
import { KeystoreError } from "../../domain/Errors.ts"
import type { EnigmaSettings } from "../../domain/Settings.ts"
import { cjsNamespace } from "../CjsNamespace.ts"
import { readOptional, reasonOf, secretNameInUse, write } from "./KeyFiles.ts"
import { azureKeyVaultKey } from "./AzureKeyVaultKey.ts"
import { gcpSecretKey } from "./GcpSecretKey.ts"

/**
 * Where a split-mode keystore's ML-KEM decapsulation key is kept, outside the passphrase-sealed
 * keyfile: opening the repository needs the passphrase and this key both (docs/keys.md).
 *
 * - A key file (`kem_key_path`, `init --kem-key-file`): on a USB stick, a separate mount.
 * - AWS Secrets Manager (`key_provider = "aws-secretsmanager"`, `kem_secret_name`), Google
 *   Cloud Secret Manager (`"gcp-secretmanager"`, GcpSecretKey.ts) or Azure Key Vault
 *   (`"azure-keyvault"`, AzureKeyVaultKey.ts): the key is a secret there, read with the cloud's
 *   credential chain. Whoever holds the keyfile and the passphrase
 *   still cannot open the repository without IAM access to that secret, and access can be revoked
 *   (or audited in CloudTrail) without touching any data.
 *
 * A plain string is a key file's path (what Keys' tests and callers without a vault pass).
 */
export interface KemKeyStore {
  /** For messages: the file's path, or `aws-secretsmanager:NAME`, `gcp-secretmanager:projects/P/secrets/S`, `azure-keyvault:URL/secrets/S`. */
  readonly where: string
  /** A key file's path (the keyfile must be another file); undefined for a vault. */
  readonly file: string | undefined
  /** The key's bytes (PKCS#8, PEM or DER), or undefined when there is none. */
  readonly read: Effect.Effect<Uint8Array | undefined, KeystoreError>
  /** What to say when `read` finds none: that it is missing, and what can bring it back. */
  readonly missing: string
  /** Stores a new key; refuses (KeystoreError) when one is there already: it never overwrites. */
  readonly create: (pem: Uint8Array) => Effect.Effect<void, KeystoreError>
  /** Takes back a key `create` stored, when the keyfile that needs it failed to appear. */
  readonly discard: Effect.Effect<void>
}

export type KemKeyLocation = string | KemKeyStore

const keyFile = (file: string): KemKeyStore => ({
  where: file,
  file,
  missing: "ML-KEM key file does not exist",
  read: readOptional(file),
  // The durable exclusive write (0600, fsync, link): it refuses an existing file.
  create: (pem) => write(file, pem, true, "ML-KEM key file"),
  discard: Effect.promise(() => fs.rm(file, { force: true }).catch(() => undefined))
})

export const kemKeyStore = (location: KemKeyLocation): KemKeyStore => (typeof location === "string" ? keyFile(location) : location)

/** The SDK's few calls this needs, loaded on first use (the CLI's start-up does not pay for it). */
const secretsManager = Effect.fnUntraced(function*(region: string | undefined, where: string) {
  const sdk = yield* Effect.tryPromise({
    try: () => import("@aws-sdk/client-secrets-manager").then(cjsNamespace<typeof import("@aws-sdk/client-secrets-manager")>("SecretsManagerClient")),
    catch: (e) => new KeystoreError({ file: where, detail: `cannot load the AWS Secrets Manager client: ${reasonOf(e)}` })
  })
  return { sdk, client: new sdk.SecretsManagerClient(region !== undefined ? { region } : {}) }
})

/** An AWS SDK error's name ("ResourceNotFoundException", …) and message, for one line. */
const awsReason = (e: unknown) => {
  const err = e as { name?: string; message?: string }
  return `${err.name ?? "Error"}: ${err.message ?? String(e)}`
}

/**
 * The key as secret `secretId` (a name or ARN) in AWS Secrets Manager, created by `init` with
 * CreateSecret (which refuses a name in use: nothing is overwritten) and read with GetSecretValue.
 * The endpoint is the SDK's: AWS_ENDPOINT_URL_SECRETS_MANAGER or AWS_ENDPOINT_URL point it
 * elsewhere (LocalStack, a VPC endpoint).
 */
export const awsSecretKey = (secretId: string, region: string | undefined): KemKeyStore => {
  const where = `aws-secretsmanager:${secretId}`
  const fail = (what: string, e: unknown) => new KeystoreError({ file: where, detail: `${what}: ${awsReason(e)}` })
  return {
    where,
    file: undefined,
    missing: "the ML-KEM key secret does not exist (AWS keeps a deleted secret 7 to 30 days: `aws secretsmanager restore-secret --secret-id NAME` brings it back)",
    read: Effect.gen(function*() {
      const { sdk, client } = yield* secretsManager(region, where)
      const got = yield* Effect.tryPromise({ try: () => client.send(new sdk.GetSecretValueCommand({ SecretId: secretId })), catch: (e) => e }).pipe(
        Effect.map((r): Uint8Array | undefined =>
          r.SecretString !== undefined ? new TextEncoder().encode(r.SecretString) : r.SecretBinary
        ),
        Effect.catch((e) =>
          (e as { name?: string }).name === "ResourceNotFoundException"
            ? Effect.succeed(undefined)
            : Effect.fail(fail("cannot read the secret", e))
        ),
        Effect.ensuring(Effect.sync(() => client.destroy()))
      )
      return got
    }),
    create: (pem) =>
      Effect.gen(function*() {
        const { sdk, client } = yield* secretsManager(region, where)
        yield* Effect.tryPromise({
          try: () =>
            client.send(new sdk.CreateSecretCommand({
              Name: secretId,
              SecretString: new TextDecoder().decode(pem),
              Description: "Enigma backup repository: ML-KEM-768 decapsulation key (opening also needs the passphrase)",
              ClientRequestToken: crypto.randomUUID()
            })),
          catch: (e) =>
            (e as { name?: string }).name === "ResourceExistsException"
              ? secretNameInUse(where)
              : fail("cannot create the secret", e)
        }).pipe(Effect.ensuring(Effect.sync(() => client.destroy())))
      }),
    discard: Effect.gen(function*() {
      const { sdk, client } = yield* secretsManager(region, where)
      yield* Effect.promise(() =>
        client.send(new sdk.DeleteSecretCommand({ SecretId: secretId, ForceDeleteWithoutRecovery: true })).catch(() => undefined)
      ).pipe(Effect.ensuring(Effect.sync(() => client.destroy())))
    }).pipe(Effect.ignore)
  }
}

/** Where a repository's config keeps its ML-KEM key: undefined when it is inside the keyfile. */
export const kemKeyLocationOf = (e: EnigmaSettings["enigma"]): KemKeyLocation | undefined => {
  if (e.kem_secret_name !== undefined && e.key_provider === "aws-secretsmanager") return awsSecretKey(e.kem_secret_name, e.aws_region)
  if (e.kem_secret_name !== undefined && e.key_provider === "gcp-secretmanager" && e.gcp_project_id !== undefined) {
    return gcpSecretKey(e.gcp_project_id, e.kem_secret_name, e.gcp_endpoint_url)
  }
  if (e.kem_secret_name !== undefined && e.key_provider === "azure-keyvault" && e.vault_url !== undefined) return azureKeyVaultKey(e.vault_url, e.kem_secret_name)
  return e.kem_key_path
}
