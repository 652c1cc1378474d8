/**
 * AWS Signature Version 4 for S3, the pure parts: parsing the Authorization header and building
 * the canonical request, credential scope and string to sign. Hashing and HMAC are the caller's
 * (services/gateway/Auth.ts), so this file stays free of I/O and node:* imports.
 *
 * Reference: "Authenticating Requests: Using the Authorization Header (AWS Signature Version 4)"
 * in the Amazon S3 API reference.
 */

export const algorithm = "AWS4-HMAC-SHA256"

export interface ParsedAuthorization {
  readonly accessKey: string
  /** YYYYMMDD from the credential scope. */
  readonly date: string
  readonly region: string
  readonly service: string
  /** Lower-case header names, in the order the client listed them. */
  readonly signedHeaders: ReadonlyArray<string>
  /** 64 lower-case hex digits. */
  readonly signature: string
}

/**
 * `AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=…`.
 * Undefined when the header is not a well-formed SigV4 header.
 */
export const parseAuthorization = (header: string): ParsedAuthorization | undefined => {
  const trimmed = header.trim()
  if (!trimmed.startsWith(`${algorithm} `)) return undefined
  const fields = new Map<string, string>()
  for (const part of trimmed.slice(algorithm.length + 1).split(",")) {
    const eq = part.indexOf("=")
    if (eq < 0) return undefined
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim())
  }
  const credential = fields.get("Credential")
  const signedHeaders = fields.get("SignedHeaders")
  const signature = fields.get("Signature")
  if (credential === undefined || signedHeaders === undefined || signature === undefined) return undefined
  const scope = credential.split("/")
  if (scope.length !== 5 || scope[4] !== "aws4_request") return undefined
  const [accessKey, date, region, service] = scope as [string, string, string, string]
  if (accessKey === "" || !/^\d{8}$/.test(date) || !/^[0-9a-f]{64}$/.test(signature)) return undefined
  const headers = signedHeaders.split(";").filter((h) => h !== "")
  if (headers.length === 0) return undefined
  return { accessKey, date, region, service, signedHeaders: headers, signature }
}

/** `20130524T000000Z` → epoch milliseconds; undefined when malformed. */
export const parseAmzDate = (value: string): number | undefined => {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value)
  if (!m) return undefined
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]))
  return Number.isNaN(ms) ? undefined : ms
}

const hex = "0123456789ABCDEF"
const unreserved = (c: number) =>
  (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e

/** S3's UriEncode: every byte outside A-Z a-z 0-9 - . _ ~ as %XX (upper case); `/` kept when `keepSlash`. */
export const uriEncode = (value: string, keepSlash: boolean): string => {
  const bytes = new TextEncoder().encode(value)
  let out = ""
  for (const b of bytes) {
    if (unreserved(b) || (keepSlash && b === 0x2f)) out += String.fromCharCode(b)
    else out += `%${hex[b >> 4]}${hex[b & 15]}`
  }
  return out
}

/** Percent-decoding that leaves a malformed escape as it is instead of throwing. */
const safeDecode = (s: string): string => {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/** The canonical URI of a path-style request: the decoded path, encoded once, slashes kept. */
export const canonicalUri = (rawPath: string): string => {
  const path = rawPath === "" ? "/" : rawPath
  return path.split("/").map((seg) => uriEncode(safeDecode(seg), false)).join("/")
}

/** Query parameters decoded, re-encoded, sorted by name then value, joined with `&`. */
export const canonicalQuery = (rawQuery: string): string => {
  if (rawQuery === "") return ""
  const pairs = rawQuery.split("&").filter((p) => p !== "").map((p) => {
    const eq = p.indexOf("=")
    const name = safeDecode((eq < 0 ? p : p.slice(0, eq)).replace(/\+/g, "%20"))
    const value = eq < 0 ? "" : safeDecode(p.slice(eq + 1).replace(/\+/g, "%20"))
    return [uriEncode(name, false), uriEncode(value, false)] as const
  })
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
  return pairs.map(([n, v]) => `${n}=${v}`).join("&")
}

/** Header value as signed: trimmed, runs of spaces collapsed; several values joined by `,`. */
const canonicalHeaderValue = (value: string | ReadonlyArray<string> | undefined): string =>
  (typeof value === "string" ? [value] : value ?? []).map((v) => v.trim().replace(/\s+/g, " ")).join(",")

export interface CanonicalRequestInput {
  readonly method: string
  /** The path as it arrived (still percent-encoded), without the query. */
  readonly rawPath: string
  /** The query string as it arrived, without `?`. */
  readonly rawQuery: string
  /** Header names in lower case (as node:http gives them). */
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  readonly signedHeaders: ReadonlyArray<string>
  /** The x-amz-content-sha256 value: a hex digest or UNSIGNED-PAYLOAD. */
  readonly payloadHash: string
}

export const canonicalRequest = (input: CanonicalRequestInput): string => {
  const names = input.signedHeaders.map((h) => h.toLowerCase())
  return [
    input.method.toUpperCase(),
    canonicalUri(input.rawPath),
    canonicalQuery(input.rawQuery),
    names.map((n) => `${n}:${canonicalHeaderValue(input.headers[n])}\n`).join(""),
    names.join(";"),
    input.payloadHash
  ].join("\n")
}

export const credentialScope = (a: Pick<ParsedAuthorization, "date" | "region" | "service">) =>
  `${a.date}/${a.region}/${a.service}/aws4_request`

/** `canonicalRequestHash` is the hex SHA-256 of the canonical request. */
export const stringToSign = (amzDate: string, scope: string, canonicalRequestHash: string) =>
  [algorithm, amzDate, scope, canonicalRequestHash].join("\n")
