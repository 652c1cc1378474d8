import { Effect } from "effect"
import { KeystoreError } from "../../domain/Errors.ts"
import type { KemKeyStore } from "./KemKeyStore.ts"
import { reasonOf, secretNameInUse } from "./KeyFiles.ts"
import { fetchRetrying, jsonAnswer } from "./SecretStoreFetch.ts"

/** Secret Manager's public endpoint; `gcp_endpoint_url` names another (regional: https://secretmanager.LOCATION.rep.googleapis.com). */
export const gcpSecretManagerEndpoint = "https://secretmanager.googleapis.com"

interface GcpAnswer {
  readonly status: number
  readonly body: { readonly error?: { readonly status?: string; readonly message?: string }; readonly payload?: { readonly data?: string } }
}

/**
 * The key as secret `secretId` of project `project` in Google Cloud Secret Manager, through its
 * REST API: `init` creates the secret (409 ALREADY_EXISTS for a name in use: nothing is
 * overwritten) and adds the key as its first version; every open reads the latest version.
 */
export const gcpSecretKey = (project: string, secretId: string, endpoint = gcpSecretManagerEndpoint): KemKeyStore => {
  const where = `gcp-secretmanager:projects/${project}/secrets/${secretId}`
  const base = `${endpoint.replace(/\/+$/, "")}/v1/projects/${encodeURIComponent(project)}/secrets`
  /*
   * Bearer headers from Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's
   * login, the metadata server), looked up once for the store's calls on first use. An `http://`
   * endpoint is an emulator's and gets none: credentials never go out unencrypted.
   */
  let googleAuth: Promise<{ getRequestHeaders(): Promise<unknown> }> | undefined
  const authHeaders = async (): Promise<Record<string, string>> => {
    if (endpoint.startsWith("http://")) return {}
    googleAuth ??= import("google-auth-library").then(({ GoogleAuth }) => new GoogleAuth({ scopes: ["https://www.googleapis.com/auth/cloud-platform"] }))
    const headers: unknown = await (await googleAuth).getRequestHeaders()
    return headers instanceof Headers ? Object.fromEntries(headers.entries()) : headers as Record<string, string>
  }
  const call = (what: string, method: string, url: string, body?: object) =>
    Effect.tryPromise({
      try: async (): Promise<GcpAnswer> => {
        const res = await fetchRetrying(url, {
          method,
          headers: { ...(await authHeaders()), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {})
        })
        return jsonAnswer<GcpAnswer["body"]>(res)
      },
      catch: (e) => new KeystoreError({ file: where, detail: `cannot ${what}: ${reasonOf(e)}` })
    })
  const failed = (what: string, a: GcpAnswer) =>
    new KeystoreError({ file: where, detail: `cannot ${what}: ${a.body.error?.status ?? `HTTP ${a.status}`}: ${a.body.error?.message ?? "no message"}` })
  const secret = `${base}/${encodeURIComponent(secretId)}`
  return {
    where,
    file: undefined,
    missing: "the ML-KEM key secret does not exist or has no enabled version (a disabled version can be enabled again in the console; a destroyed one is gone)",
    read: Effect.gen(function*() {
      const a = yield* call("read the secret", "GET", `${secret}/versions/latest:access`)
      if (a.status === 404) return undefined
      if (a.status !== 200 || typeof a.body.payload?.data !== "string") return yield* failed("read the secret", a)
      return new Uint8Array(Buffer.from(a.body.payload.data, "base64"))
    }),
    create: (pem) =>
      Effect.gen(function*() {
        const made = yield* call("create the secret", "POST", `${base}?secretId=${encodeURIComponent(secretId)}`, {
          replication: { automatic: {} },
          labels: { "created-by": "enigma" }
        })
        if (made.status === 409) {
          return yield* secretNameInUse(where)
        }
        if (made.status !== 200) return yield* failed("create the secret", made)
        const added = yield* call("store the key in the secret", "POST", `${secret}:addVersion`, { payload: { data: Buffer.from(pem).toString("base64") } })
        if (added.status !== 200) {
          // The empty secret is ours (just created): take it back rather than leave it behind.
          yield* call("delete the secret", "DELETE", secret).pipe(Effect.ignore)
          return yield* failed("store the key in the secret", added)
        }
      }),
    discard: call("delete the secret", "DELETE", secret).pipe(Effect.ignore)
  }
}
