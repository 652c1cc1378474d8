import { notImplemented, s3Error, type S3Error } from "./S3Error.ts"

/**
 * The `x-amz-copy-source` header of CopyObject: `bucket/key` or `/bucket/key`, URL-encoded,
 * optionally followed by `?versionId=…`.
 */
export interface CopySource {
  readonly bucket: string
  readonly key: string
  readonly versionId: string | undefined
}

/** The parsed source, or a message saying what is wrong with the header. */
export const parseCopySource = (header: string): CopySource | { readonly invalid: string } => {
  const q = header.indexOf("?")
  const rawPath = q < 0 ? header : header.slice(0, q)
  const query = q < 0 ? "" : header.slice(q + 1)
  let path: string
  try {
    path = decodeURIComponent(rawPath)
  } catch {
    return { invalid: "x-amz-copy-source is not validly URL-encoded" }
  }
  if (path.startsWith("/")) path = path.slice(1)
  const slash = path.indexOf("/")
  if (slash <= 0 || slash === path.length - 1) {
    return { invalid: "x-amz-copy-source must be bucket/key (URL-encoded), optionally with ?versionId=" }
  }
  let versionId: string | undefined
  if (query !== "") {
    const params = new URLSearchParams(query)
    const names = [...params.keys()]
    if (names.some((n) => n !== "versionId")) return { invalid: `x-amz-copy-source has an unknown parameter: ?${query}` }
    versionId = params.get("versionId") ?? undefined
  }
  return { bucket: path.slice(0, slash), key: path.slice(slash + 1), versionId }
}

/**
 * The source a copy (CopyObject, UploadPartCopy) reads, or the S3 error to answer. Buckets here
 * are unversioned: their one version is "null", as S3 calls it; any other version is 501.
 */
export const copySourceOf = (header: string | undefined): { readonly bucket: string; readonly key: string } | S3Error => {
  if (header === undefined) return s3Error("InvalidArgument", 400, "x-amz-copy-source is missing")
  const source = parseCopySource(header)
  if ("invalid" in source) return s3Error("InvalidArgument", 400, source.invalid)
  if (source.versionId !== undefined && source.versionId !== "null") {
    return notImplemented("Copying a specific version (bucket versioning)")
  }
  return { bucket: source.bucket, key: source.key }
}
