/**
 * `encoding-type=url` of ListObjects (v1 and v2): keys, prefixes, delimiter, marker and
 * start-after come back URL-encoded so that keys with characters XML 1.0 cannot carry still list.
 * S3 encodes like a form value (space as `+`) but leaves `/` and `*` alone; botocore and MinIO
 * clients decode it with unquote_plus semantics.
 */

export type EncodingType = "url" | undefined

const keep = /[A-Za-z0-9\-_.*/]/

export const s3UrlEncode = (s: string): string => {
  let out = ""
  for (const ch of s) {
    if (keep.test(ch)) out += ch
    else if (ch === " ") out += "+"
    else for (const b of Buffer.from(ch, "utf8")) out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`
  }
  return out
}

/** The encoder for a listing's values: the identity without encoding-type. */
export const encoderFor = (e: EncodingType): ((s: string) => string) => (e === "url" ? s3UrlEncode : (s) => s)

/** The query parameter's value → EncodingType, or "invalid" for anything but `url` (S3: InvalidArgument). */
export const parseEncodingType = (value: string | null): EncodingType | "invalid" =>
  value === null ? undefined : value.toLowerCase() === "url" ? "url" : "invalid"
