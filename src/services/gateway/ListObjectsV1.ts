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
 * The page of keys after `marker` (v1's marker, ListObjectVersions' key-marker). A marker that is
 * itself a common prefix (a NextMarker we sent) continues after everything it rolls up.
 */
const pageAfter = (objects: Objects["Service"], bucket: string, prefix: string, delimiter: string | undefined, maxKeys: number, marker: string) => {
  let skipPrefix: string | undefined
  if (delimiter !== undefined && marker.startsWith(prefix)) {
    const cut = marker.indexOf(delimiter, prefix.length)
    if (cut >= 0 && cut + delimiter.length === marker.length) skipPrefix = marker
  }
  return objects.listObjects(bucket, { prefix, delimiter, maxKeys, after: marker === "" ? undefined : marker, skipPrefix })
}

/** A page after the marker in `markerParam`, with what both v1 and ListObjectVersions echo. */
const listAfterMarker = Effect.fnUntraced(function*(objects: Objects["Service"], bucket: string, params: URLSearchParams, markerParam: "marker" | "key-marker") {
  const common = listParamsOf(params)
  if (common instanceof S3Error) return yield* common
  const marker = params.get(markerParam) ?? ""
  const maxKeys = Math.min(common.maxKeys, 1000)
  const page = yield* pageAfter(objects, bucket, common.prefix, common.delimiter, maxKeys, marker)
  const echoed = {
    bucket,
    prefix: common.prefix,
    delimiter: common.delimiter,
    maxKeys,
    encodingType: common.encodingType,
    contents: page.contents,
    commonPrefixes: page.commonPrefixes
  }
  return { echoed, marker, next: page.next }
})

/**
 * ListObjects v1 (GET /bucket without list-type=2): pages continue after `marker`. NextMarker is
 * sent only with a delimiter, as S3 does; without one, clients continue from the last key.
 */
export const listObjectsV1 = Effect.fn("Gateway.listObjectsV1")(function*(objects: Objects["Service"], bucket: string, params: URLSearchParams) {
  const { echoed, marker, next } = yield* listAfterMarker(objects, bucket, params, "marker")
  return listObjectsV1Xml({
    ...echoed,
    marker,
    isTruncated: next !== undefined,
    nextMarker: echoed.delimiter !== undefined && next !== undefined ? next.after : undefined
  })
})

/**
 * ListObjectVersions (GET /bucket?versions). Buckets here are never versioned: each object is its
 * one version, "null", the latest; pages continue after `key-marker` (the version marker can only
 * be "null", so it adds nothing).
 */
export const listObjectVersions = Effect.fn("Gateway.listObjectVersions")(function*(objects: Objects["Service"], bucket: string, params: URLSearchParams) {
  const { echoed, marker, next } = yield* listAfterMarker(objects, bucket, params, "key-marker")
  return listVersionsXml({ ...echoed, keyMarker: marker, nextKeyMarker: next?.after })
})
