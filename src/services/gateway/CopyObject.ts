import type { IncomingHttpHeaders } from "node:http"
import { Effect } from "effect"
import { evaluatePreconditions } from "../../domain/s3/Conditions.ts"
import { copySourceOf } from "../../domain/s3/CopySource.ts"
import { S3Error, s3Error } from "../../domain/s3/S3Error.ts"
import { headerOf, preconditionFailed, preconditionsOf, requestAttributes, requestTags, writeConditionsIn } from "./ObjectHeaders.ts"
import type { Objects, ObjectRow } from "./Objects.ts"

/**
 * CopyObject (PUT with `x-amz-copy-source`): the new object lists the source's chunks, so no
 * byte is read or uploaded again. `x-amz-metadata-directive` COPY (default) keeps the source's
 * Content-Type, kept headers and metadata; REPLACE takes them from this request. Copying an
 * object onto itself needs REPLACE, as in S3 (otherwise nothing would change). Tags have their
 * own `x-amz-tagging-directive`: COPY (default) keeps the source's, REPLACE takes `x-amz-tagging`.
 */
export const copyObject = Effect.fn("Gateway.copyObject")(function*(
  objects: Objects["Service"],
  headers: IncomingHttpHeaders,
  bucket: string,
  key: string
) {
  const source = copySourceOf(headerOf(headers, "x-amz-copy-source"))
  if (source instanceof S3Error) return yield* source
  const directive = (headerOf(headers, "x-amz-metadata-directive") ?? "COPY").toUpperCase()
  if (directive !== "COPY" && directive !== "REPLACE") {
    return yield* s3Error("InvalidArgument", 400, "Unknown metadata directive: x-amz-metadata-directive must be COPY or REPLACE")
  }
  const replaced = directive === "REPLACE" ? requestAttributes(headers) : undefined
  if (replaced instanceof S3Error) return yield* replaced
  const taggingDirective = (headerOf(headers, "x-amz-tagging-directive") ?? "COPY").toUpperCase()
  if (taggingDirective !== "COPY" && taggingDirective !== "REPLACE") {
    return yield* s3Error("InvalidArgument", 400, "Unknown tagging directive: x-amz-tagging-directive must be COPY or REPLACE")
  }
  const newTags = taggingDirective === "REPLACE" ? requestTags(headers) : undefined
  if (newTags instanceof S3Error) return yield* newTags
  // If-None-Match / If-Match (without the copy-source prefix) are about the destination.
  const conditions = writeConditionsIn(headers)
  if (conditions instanceof S3Error) return yield* conditions
  yield* objects.headBucket(bucket)
  const from: ObjectRow = yield* objects.headObject(source.bucket, source.key)
  if (evaluatePreconditions(preconditionsOf(headers, "x-amz-copy-source-"), from.etag, from.modifiedAt) !== "proceed") {
    return yield* preconditionFailed()
  }
  if (source.bucket === bucket && source.key === key && replaced === undefined) {
    return yield* s3Error(
      "InvalidRequest",
      400,
      "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes: send x-amz-metadata-directive: REPLACE"
    )
  }
  const attributes = replaced ?? { contentType: from.contentType, meta: from.meta, headers: from.headers }
  const { tags: _ignored, ...rest } = attributes.headers
  const tags = newTags ?? from.headers.tags ?? []
  return yield* objects.copyObject(bucket, key, from, { ...attributes, headers: tags.length > 0 ? { ...rest, tags } : rest }, conditions)
})
