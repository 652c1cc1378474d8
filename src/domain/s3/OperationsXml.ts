/**
 * S3 XML bodies of ListObjects (v1), CopyObject, DeleteObjects and GetBucketLocation, and the
 * reader of the DeleteObjects request body. Pure; every text node is escaped by `el`.
 */
import { encoderFor, type EncodingType } from "./EncodingType.ts"
import { declaration, el, escapeXml, isoTime, ns, ownerXml } from "./Xml.ts"
import { childrenNamed, childText, requestDocument } from "./XmlParse.ts"

export interface ListObjectsV1Page {
  readonly bucket: string
  readonly prefix: string
  readonly delimiter: string | undefined
  readonly marker: string
  readonly maxKeys: number
  readonly encodingType: EncodingType
  readonly isTruncated: boolean
  /** Only with a delimiter, as S3: without one, clients continue from the last key. */
  readonly nextMarker: string | undefined
  readonly contents: ReadonlyArray<{ readonly key: string; readonly modifiedAt: number; readonly etag: string; readonly size: number }>
  readonly commonPrefixes: ReadonlyArray<string>
}

/** The opening of a listing: its root element, the bucket and the prefix. */
const listingStart = (root: string, bucket: string, prefix: string, enc: (s: string) => string) =>
  `${declaration}<${root} xmlns="${ns}">${el("Name", bucket)}${el("Prefix", enc(prefix))}`

export const listObjectsV1Xml = (p: ListObjectsV1Page) => {
  const enc = encoderFor(p.encodingType)
  return listingStart("ListBucketResult", p.bucket, p.prefix, enc) +
    el("Marker", enc(p.marker)) +
    (p.nextMarker !== undefined ? el("NextMarker", enc(p.nextMarker)) : "") +
    el("MaxKeys", p.maxKeys) +
    (p.delimiter !== undefined ? el("Delimiter", enc(p.delimiter)) : "") +
    (p.encodingType !== undefined ? el("EncodingType", p.encodingType) : "") +
    el("IsTruncated", p.isTruncated) +
    p.contents.map((c) =>
      `<Contents>${el("Key", enc(c.key))}${el("LastModified", isoTime(c.modifiedAt))}${el("ETag", `"${c.etag}"`)}${el("Size", c.size)}` +
      `${ownerXml()}${el("StorageClass", "STANDARD")}</Contents>`
    ).join("") +
    p.commonPrefixes.map((cp) => `<CommonPrefixes>${el("Prefix", enc(cp))}</CommonPrefixes>`).join("") +
    `</ListBucketResult>`
}

export const copyObjectResultXml = (r: { readonly etag: string; readonly modifiedAt: number }) =>
  `${declaration}<CopyObjectResult xmlns="${ns}">${el("LastModified", isoTime(r.modifiedAt))}${el("ETag", `"${r.etag}"`)}</CopyObjectResult>`

/** S3 answers an empty LocationConstraint for us-east-1 (its historical default region). */
export interface ListVersionsPage extends Omit<ListObjectsV1Page, "marker" | "isTruncated" | "nextMarker"> {
  readonly keyMarker: string
  /** Set when the page is truncated: where the next one starts. */
  readonly nextKeyMarker: string | undefined
}

/** ListVersionsResult of an unversioned bucket: each object is version "null", the latest. */
export const listVersionsXml = (p: ListVersionsPage) => {
  const enc = encoderFor(p.encodingType)
  return listingStart("ListVersionsResult", p.bucket, p.prefix, enc) +
    el("KeyMarker", enc(p.keyMarker)) +
    el("VersionIdMarker", "") +
    (p.nextKeyMarker !== undefined ? el("NextKeyMarker", enc(p.nextKeyMarker)) + el("NextVersionIdMarker", "null") : "") +
    el("MaxKeys", p.maxKeys) +
    (p.delimiter !== undefined ? el("Delimiter", enc(p.delimiter)) : "") +
    (p.encodingType !== undefined ? el("EncodingType", p.encodingType) : "") +
    el("IsTruncated", p.nextKeyMarker !== undefined) +
    p.contents.map((c) =>
      `<Version>${el("Key", enc(c.key))}${el("VersionId", "null")}${el("IsLatest", true)}${el("LastModified", isoTime(c.modifiedAt))}` +
      `${el("ETag", `"${c.etag}"`)}${el("Size", c.size)}${ownerXml()}${el("StorageClass", "STANDARD")}</Version>`
    ).join("") +
    p.commonPrefixes.map((cp) => `<CommonPrefixes>${el("Prefix", enc(cp))}</CommonPrefixes>`).join("") +
    `</ListVersionsResult>`
}

export const locationConstraintXml = (region: string) =>
  region === "us-east-1"
    ? `${declaration}<LocationConstraint xmlns="${ns}"/>`
    : `${declaration}<LocationConstraint xmlns="${ns}">${escapeXml(region)}</LocationConstraint>`

export interface DeleteOutcome {
  readonly key: string
  readonly versionId: string | undefined
  /** Absent: deleted (or never existed, which S3 also reports as Deleted). */
  readonly error?: { readonly code: string; readonly message: string }
}

/** Quiet mode lists only the keys that could not be deleted. */
export const deleteResultXml = (outcomes: ReadonlyArray<DeleteOutcome>, quiet: boolean) =>
  `${declaration}<DeleteResult xmlns="${ns}">` +
  outcomes.map((o) => {
    const version = o.versionId !== undefined ? el("VersionId", o.versionId) : ""
    if (o.error) return `<Error>${el("Key", o.key)}${version}${el("Code", o.error.code)}${el("Message", o.error.message)}</Error>`
    return quiet ? "" : `<Deleted>${el("Key", o.key)}${version}</Deleted>`
  }).join("") +
  `</DeleteResult>`

/** S3's limit on the keys of one DeleteObjects request. */
export const maxDeleteKeys = 1000

export interface DeleteRequest {
  readonly quiet: boolean
  readonly objects: ReadonlyArray<{ readonly key: string; readonly versionId: string | undefined }>
}

/** Reads a `<Delete>` body; a string says why it is malformed (S3: 400 MalformedXML). */
export const parseDeleteRequest = (body: string): DeleteRequest | string => {
  const root = requestDocument(body, "Delete")
  if (typeof root === "string") return root
  const quietText = childText(root, "Quiet")
  if (quietText !== undefined && quietText !== "true" && quietText !== "false") return "<Quiet> must be true or false"
  const elements = childrenNamed(root, "Object")
  if (elements.length === 0) return "<Delete> must list at least one <Object>"
  if (elements.length > maxDeleteKeys) return `<Delete> lists ${elements.length} objects; at most ${maxDeleteKeys} are allowed per request`
  const objects: Array<{ key: string; versionId: string | undefined }> = []
  for (const o of elements) {
    // The key is taken verbatim (not trimmed): keys may start or end with spaces.
    const keyEl = o.children.find((c) => c.name === "Key")
    if (keyEl === undefined || keyEl.text === "") return "every <Object> needs a non-empty <Key>"
    objects.push({ key: keyEl.text, versionId: childText(o, "VersionId") })
  }
  return { quiet: quietText === "true", objects }
}

/**
 * Reads a CreateBucket body: empty, or a `<CreateBucketConfiguration>` with an optional
 * `<LocationConstraint>`. Returns the constraint ("" when none is given), or a string saying why
 * the body is malformed (S3: 400 MalformedXML).
 */
export const parseCreateBucketConfiguration = (body: string): { readonly locationConstraint: string } | string => {
  if (body.trim() === "") return { locationConstraint: "" }
  const root = requestDocument(body, "CreateBucketConfiguration")
  if (typeof root === "string") return root
  return { locationConstraint: childText(root, "LocationConstraint") ?? "" }
}
