import { Effect } from "effect"
import { KeystoreError } from "../../domain/Errors.ts"
import type { KemKeyStore } from "./KemKeyStore.ts"
import { reasonOf, secretNameInUse } from "./KeyFiles.ts"
import { fetchRetrying, jsonAnswer } from "./SecretStoreFetch.ts"

/** The Key Vault REST API version Enigma speaks (stable since 2024). */
const apiVersion = "7.5"

interface VaultAnswer {
  readonly status: number
  readonly body: {
    readonly value?: unknown
    readonly error?: { readonly code?: string; readonly message?: string; readonly innererror?: { readonly code?: string } }
  }
}

/** `Bearer authorization="https://login…/TENANT", resource="https://vault.azure.net"` (or `scope=`) → its fields. */
export const parseChallenge = (header: string | null): Record<string, string> | undefined => {
  if (header === null || !/^\s*Bearer\s/i.test(header)) return undefined
  const fields: Record<string, string> = {}
  for (const m of header.matchAll(/([A-Za-z_]+)="([^"]*)"/g)) fields[m[1]!.toLowerCase()] = m[2]!
  return fields
}

/**
 * The token scope a vault's 401 challenge asks for, and the tenant that issues it. A vault may
 * only ask for a token of its own domain (https://vault.azure.net for NAME.vault.azure.net): one
 * that asks for another resource could be anyone's server collecting tokens, and is refused.
 */
export const tokenRequest = (challenge: Record<string, string>, vaultHost: string): { scope: string; tenantId?: string } | string => {
  const raw = challenge.scope ?? (challenge.resource !== undefined ? `${challenge.resource.replace(/\/+$/, "")}/.default` : undefined)
  if (raw === undefined) return "the vault's challenge names no resource or scope"
  let host: string
  try {
    host = new URL(raw).hostname
  } catch {
    return `the vault's challenge asks for a token for "${raw}", which is not a URL`
  }
  if (host !== vaultHost && !vaultHost.endsWith(`.${host}`)) {
    return `the vault asks for a token for ${host}, which is not its own domain; refusing to send one`
  }
  const authority = challenge.authorization ?? challenge.authorization_uri
  const tenantId = authority !== undefined ? /^https?:\/\/[^/]+\/([^/?#]+)/.exec(authority)?.[1] : undefined
  return tenantId !== undefined ? { scope: raw, tenantId } : { scope: raw }
}

/**
 * DefaultAzureCredential's failure in one line. It tries a chain of credentials and reports each
 * (one line or more apiece): the first that was set up and failed says why (an identity with no
 * access); when none was set up, what to set instead of its paragraph per credential.
 */
export const credentialReason = (e: unknown): string => {
  const err = e as { name?: string; message?: string }
  const entries = String(err.message ?? e).split("\n").filter((l) => /^\w*Error: /.test(l))
  const tried = entries.find((l) => !l.startsWith("CredentialUnavailableError: ") || l.includes("Authentication failed"))
  if (tried !== undefined) {
    // MSAL pads its messages with fields it does not know: "- Trace ID: Not Available".
    return tried.replace(/^CredentialUnavailableError: /, "").replace(/[A-Za-z() ]+: Not Available(?: - )?/g, " ").replace(/\s+/g, " ").replace(/[\s-]+$/, "").trim()
  }
  if (err.name === "AggregateAuthenticationError") {
    return "no Azure credential is available (`az login`, a managed identity, or AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET)"
  }
  return String(err.message ?? e).split("\n")[0]!.trim()
}

/** Key Vault's error as one line: `Forbidden (ForbiddenByRbac): Caller is not authorized …`. */
const vaultReason = (a: VaultAnswer) => {
  const e = a.body.error
  if (e === undefined) return `HTTP ${a.status}`
  const inner = e.innererror?.code !== undefined ? ` (${e.innererror.code})` : ""
  // Its messages run over several lines (RBAC ones add advice after a CRLF).
  return `${e.code ?? `HTTP ${a.status}`}${inner}: ${(e.message ?? "no message").replace(/\s+/g, " ").trim()}`
}

/**
 * The key as secret `name` in Azure Key Vault `vaultUrl` (https://NAME.vault.azure.net/), through
 * its REST API with a bearer token from `DefaultAzureCredential` (the AZURE_* environment, workload
 * or managed identity, `az login`, …). As the Azure SDK does, each store first asks without a
 * token and answers the vault's 401 challenge, which names the token's resource and tenant; the
 * token is then kept for the store's later calls.
 *
 * `init` refuses a name in use: it reads the secret first and creates it only when there is none
 * (were one created in between, Key Vault keeps the older value as a previous version: nothing
 * is lost). A secret deleted since stays recoverable for the vault's retention (7–90 days), and
 * its name cannot be reused meanwhile.
 */
export const azureKeyVaultKey = (vaultUrl: string, name: string): KemKeyStore => {
  const base = vaultUrl.replace(/\/+$/, "")
  const where = `azure-keyvault:${base}/secrets/${name}`
  const vaultHost = new URL(base).hostname
  let token: string | undefined
  let credential: Promise<{ getToken(scope: string, options?: { tenantId?: string }): Promise<{ token: string } | null> }> | undefined

  const fetchToken = async (challenge: Record<string, string>): Promise<string> => {
    const wanted = tokenRequest(challenge, vaultHost)
    if (typeof wanted === "string") throw new Error(wanted)
    credential ??= import("@azure/identity").then(({ DefaultAzureCredential }) => new DefaultAzureCredential())
    const got = await (await credential).getToken(wanted.scope, wanted.tenantId !== undefined ? { tenantId: wanted.tenantId } : {}).catch(
      (e: unknown) => {
        throw new Error(`cannot get an Azure access token: ${credentialReason(e)}`)
      }
    )
    if (got === null) throw new Error("cannot get an Azure access token: the credential gave none")
    return got.token
  }

  const call = (what: string, method: string, path: string, body?: object) =>
    Effect.tryPromise({
      try: async (): Promise<VaultAnswer> => {
        const send = () =>
          fetchRetrying(`${base}${path}?api-version=${apiVersion}`, {
            method,
            headers: {
              ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
              ...(body !== undefined ? { "content-type": "application/json" } : {})
            },
            ...(body !== undefined ? { body: JSON.stringify(body) } : {})
          })
        let res = await send()
        const challenge = res.status === 401 ? parseChallenge(res.headers.get("www-authenticate")) : undefined
        if (challenge !== undefined) {
          await res.body?.cancel()
          token = await fetchToken(challenge)
          res = await send()
        }
        return jsonAnswer<VaultAnswer["body"]>(res)
      },
      catch: (e) => new KeystoreError({ file: where, detail: `cannot ${what}: ${reasonOf(e)}` })
    })
  const failed = (what: string, a: VaultAnswer) => new KeystoreError({ file: where, detail: `cannot ${what}: ${vaultReason(a)}` })
  const secret = `/secrets/${encodeURIComponent(name)}`

  return {
    where,
    file: undefined,
    missing:
      "the ML-KEM key secret does not exist (Key Vault keeps a deleted secret 7 to 90 days: `az keyvault secret recover --vault-name VAULT --name NAME` brings it back)",
    read: Effect.gen(function*() {
      const a = yield* call("read the secret", "GET", secret)
      if (a.status === 404) return undefined
      if (a.status !== 200 || typeof a.body.value !== "string") return yield* failed("read the secret", a)
      return new TextEncoder().encode(a.body.value)
    }),
    create: (pem) =>
      Effect.gen(function*() {
        const existing = yield* call("read the secret", "GET", secret)
        if (existing.status === 200) {
          return yield* secretNameInUse(where)
        }
        if (existing.status !== 404) return yield* failed("read the secret", existing)
        const made = yield* call("create the secret", "PUT", secret, {
          value: new TextDecoder().decode(pem),
          contentType: "application/x-pem-file",
          tags: { "created-by": "enigma", purpose: "ML-KEM-768 decapsulation key; opening also needs the passphrase" }
        })
        if (made.status === 409) {
          return yield* new KeystoreError({
            file: where,
            detail:
              "a deleted secret of that name is kept by the vault (soft delete); recover it (`az keyvault secret recover`), purge it, or choose another kem_secret_name"
          })
        }
        if (made.status !== 200) return yield* failed("create the secret", made)
      }),
    /*
     * Deleting only moves a secret to the vault's deleted ones, where its name stays taken: purge
     * it too (when the identity may; else it stays recoverable). The purge is refused with 409
     * while the deletion is still in progress, a moment after it.
     */
    discard: Effect.gen(function*() {
      const deleted = yield* call("delete the secret", "DELETE", secret)
      if (deleted.status !== 200) return
      for (let attempt = 0; attempt < 20; attempt++) {
        const purged = yield* call("purge the secret", "DELETE", `/deletedsecrets/${encodeURIComponent(name)}`)
        if (purged.status !== 409) return
        yield* Effect.sleep("250 millis")
      }
    }).pipe(Effect.ignore)
  }
}
