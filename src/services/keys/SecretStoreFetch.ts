/**
 * `fetch` for the secret stores' REST APIs (GcpSecretKey.ts, AzureKeyVaultKey.ts), retrying what
 * is transient as the clouds' own SDKs do (and as the AWS SDK does for Secrets Manager): a
 * connection that failed or timed out, 429 (throttled) and 500/502/503/504. Four attempts, 0.2 s,
 * 0.4 s and 0.8 s apart, or after the server's Retry-After (up to 5 s). The last attempt's answer
 * or error is the caller's, so an outage still ends in one line naming it.
 *
 * A POST (Secret Manager's create) is retried only when throttled: one that failed otherwise may
 * have been carried out, and its retry would then be refused as a name in use.
 */
const attempts = 4
const baseDelayMs = 200
const maxRetryAfterMs = 5_000
const requestTimeoutMs = 60_000

const transientStatus = new Set([429, 500, 502, 503, 504])

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Retry-After in seconds (Key Vault, Google's front ends) or as an HTTP date, in ms; undefined without one. */
const retryAfterMs = (res: Response): number | undefined => {
  const v = res.headers.get("retry-after")
  if (v === null) return undefined
  const ms = /^\d+$/.test(v.trim()) ? Number(v) * 1000 : Date.parse(v) - Date.now()
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), maxRetryAfterMs) : undefined
}

export const fetchRetrying = async (url: string, init: Omit<RequestInit, "signal">): Promise<Response> => {
  for (let attempt = 1; ; attempt++) {
    const last = attempt === attempts
    const idempotent = init.method !== "POST"
    const backoff = baseDelayMs * 2 ** (attempt - 1)
    let res: Response
    try {
      res = await fetch(url, { ...init, signal: AbortSignal.timeout(requestTimeoutMs) })
    } catch (e) {
      if (last || !idempotent) throw e
      await sleep(backoff)
      continue
    }
    if (last || !transientStatus.has(res.status) || (!idempotent && res.status !== 429)) return res
    await res.body?.cancel()
    await sleep(retryAfterMs(res) ?? backoff)
  }
}

/**
 * An answer's status and JSON body ({} when empty, or when it is not JSON: a proxy's error page,
 * which the status then describes).
 */
export const jsonAnswer = async <B extends object>(res: Response): Promise<{ readonly status: number; readonly body: Partial<B> }> => {
  const text = await res.text()
  try {
    return { status: res.status, body: text.length > 0 ? JSON.parse(text) : {} }
  } catch {
    return { status: res.status, body: {} }
  }
}
