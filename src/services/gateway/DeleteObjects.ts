import { createHash } from "node:crypto"
import { Effect } from "effect"
import { contentMd5Problem } from "../../domain/s3/Checksum.ts"
import { deleteResultXml, type DeleteOutcome, parseDeleteRequest } from "../../domain/s3/OperationsXml.ts"
import { malformedXml, s3Error } from "../../domain/s3/S3Error.ts"
import type { Objects } from "./Objects.ts"

/**
 * DeleteObjects (POST /bucket?delete): up to 1000 keys, deleted with one log append. A key that
 * does not exist is reported as Deleted, as S3 does; only a specific version other than "null"
 * (the one version of an unversioned bucket) is reported as an error, since buckets here have no
 * versioning. Returns the DeleteResult XML.
 */
export const deleteObjects = Effect.fn("Gateway.deleteObjects")(function*(
  objects: Objects["Service"],
  bucket: string,
  body: Uint8Array,
  contentMd5: string | undefined
) {
  if (contentMd5 !== undefined) {
    const given = contentMd5.trim()
    const malformed = contentMd5Problem(given)
    if (malformed !== undefined) return yield* malformed
    if (createHash("md5").update(body).digest("base64") !== given) {
      return yield* s3Error("BadDigest", 400, "The Content-MD5 you specified did not match what we received.")
    }
  }
  yield* objects.headBucket(bucket)
  const request = parseDeleteRequest(Buffer.from(body).toString("utf8"))
  if (typeof request === "string") {
    return yield* malformedXml(request)
  }
  const outcomes: Array<DeleteOutcome> = []
  const keys: Array<string> = []
  for (const o of request.objects) {
    if (o.versionId !== undefined && o.versionId !== "null") {
      outcomes.push({ ...o, error: { code: "NotImplemented", message: "This gateway has no bucket versioning: only the current version (null) can be deleted" } })
    } else {
      keys.push(o.key)
      outcomes.push(o)
    }
  }
  yield* objects.deleteObjects(bucket, keys)
  return deleteResultXml(outcomes, request.quiet)
})
