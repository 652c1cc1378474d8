import { Effect } from "effect"
import { parseEncodingType } from "../../domain/s3/EncodingType.ts"
import { listObjectsV1Xml, listVersionsXml } from "../../domain/s3/OperationsXml.ts"
import { S3Error, s3Error } from "../../domain/s3/S3Error.ts"
import type { Objects } from "./Objects.ts"

/** Query parameters of ListObjects (v1). */
export const listV1Params: ReadonlySet<string> = new Set(["prefix", "delimiter", "max-keys", "marker", "encoding-type", "x-id"])

/** Query parameters of ListObjectVersions. */
export const listVersionsParams: ReadonlySet<string> = new Set(["versions", "prefix", "delimiter", "max-keys", "key-marker", "version-id-marker", "encoding-type", "x-id"])

/** The parameters ListObjects v1 and v2 share, or the S3 error they earn. */
export const listParamsOf = (params: URLSearchParams) => {
  const encodingType = parseEncodingType(params.get("encoding-type"))
  if (encodingType === "invalid") return s3Error("InvalidArgument", 400, "Invalid Encoding Method specified in Request: encoding-type must be url")
  const maxKeysText = params.get("max-keys")
  const maxKeys = maxKeysText === null ? 1000 : Number(maxKeysText)
  if (!Number.isInteger(maxKeys) || maxKeys < 0) return s3Error("InvalidArgument", 400, "max-keys must be a non-negative integer")
  return { encodingType, maxKeys, prefix: params.get("prefix") ?? "", delimiter: params.get("delimiter") || undefined }
}

/**
 * ListObjects v1 (GET /bucket without list-type=2): pages continue after `marker`. NextMarker is
 * sent only with a delimiter, as S3 does; without one, clients continue from the last key.
 */
export const listObjectsV1 = Effect.fn("Gateway.listObjectsV1")(function*(objects: Objects["Service"], bucket: string, params: URLSearchParams) {
  const common = listParamsOf(params)
  if (common instanceof S3Error) return yield* common
  const { encodingType, maxKeys, prefix, delimiter } = common
  const marker = params.get("marker") ?? ""
  // A marker that is itself a common prefix (a NextMarker we sent) continues after everything it rolls up.
  let skipPrefix: string | undefined
  if (delimiter !== undefined && marker.startsWith(prefix)) {
    const cut = marker.indexOf(delimiter, prefix.length)
    if (cut >= 0 && cut + delimiter.length === marker.length) skipPrefix = marker
  }
  const limit = Math.min(maxKeys, 1000)
  const page = yield* objects.listObjects(bucket, { prefix, delimiter, maxKeys: limit, after: marker === "" ? undefined : marker, skipPrefix })
  return listObjectsV1Xml({
    bucket,
    prefix,
    delimiter,
    marker,
    maxKeys: limit,
    encodingType,
    isTruncated: page.next !== undefined,
    nextMarker: delimiter !== undefined && page.next !== undefined ? page.next.after : undefined,
    contents: page.contents,
    commonPrefixes: page.commonPrefixes
  })
})

/**
 * ListObjectVersions (GET /bucket?versions). Buckets here are never versioned: each object is its
 * one version, "null", the latest; pages continue after `key-marker` (the version marker can only
 * be "null", so it adds nothing).
 */
export const listObjectVersions = Effect.fn("Gateway.listObjectVersions")(function*(objects: Objects["Service"], bucket: string, params: URLSearchParams) {
  const common = listParamsOf(params)
  if (common instanceof S3Error) return yield* common
  const { encodingType, maxKeys, prefix, delimiter } = common
  const keyMarker = params.get("key-marker") ?? ""
  let skipPrefix: string | undefined
  if (delimiter !== undefined && keyMarker.startsWith(prefix)) {
    const cut = keyMarker.indexOf(delimiter, prefix.length)
    if (cut >= 0 && cut + delimiter.length === keyMarker.length) skipPrefix = keyMarker
  }
  const limit = Math.min(maxKeys, 1000)
  const page = yield* objects.listObjects(bucket, { prefix, delimiter, maxKeys: limit, after: keyMarker === "" ? undefined : keyMarker, skipPrefix })
  return listVersionsXml({
    bucket,
    prefix,
    delimiter,
    keyMarker,
    maxKeys: limit,
    encodingType,
    nextKeyMarker: page.next?.after,
    contents: page.contents,
    commonPrefixes: page.commonPrefixes
  })
})
