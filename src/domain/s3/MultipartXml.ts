/**
 * S3 XML for multipart uploads: the response bodies of CreateMultipartUpload, UploadPartCopy,
 * CompleteMultipartUpload, ListParts and ListMultipartUploads, and the reader of the
 * CompleteMultipartUpload request body. Pure; every text node is escaped.
 */
import { encoderFor } from "./EncodingType.ts"
import { declaration, el, isoTime, ns, ownerXml } from "./Xml.ts"
import { childrenNamed, childText, requestDocument } from "./XmlParse.ts"

export const initiateMultipartUploadXml = (p: { readonly bucket: string; readonly key: string; readonly uploadId: string }) =>
  `${declaration}<InitiateMultipartUploadResult xmlns="${ns}">${el("Bucket", p.bucket)}${el("Key", p.key)}${el("UploadId", p.uploadId)}</InitiateMultipartUploadResult>`

export const copyPartResultXml = (p: { readonly etag: string; readonly modifiedAt: number }) =>
  `${declaration}<CopyPartResult xmlns="${ns}">${el("LastModified", isoTime(p.modifiedAt))}${el("ETag", `"${p.etag}"`)}</CopyPartResult>`

export const completeMultipartUploadXml = (p: { readonly location: string; readonly bucket: string; readonly key: string; readonly etag: string }) =>
  `${declaration}<CompleteMultipartUploadResult xmlns="${ns}">${el("Location", p.location)}${el("Bucket", p.bucket)}${el("Key", p.key)}${el("ETag", `"${p.etag}"`)}</CompleteMultipartUploadResult>`

export interface ListPartsPage {
  readonly bucket: string
  readonly key: string
  readonly uploadId: string
  readonly partNumberMarker: number
  readonly maxParts: number
  /** Set when more parts follow this page. */
  readonly nextPartNumberMarker: number | undefined
  readonly parts: ReadonlyArray<{ readonly partNumber: number; readonly modifiedAt: number; readonly etag: string; readonly size: number }>
}

export const listPartsXml = (p: ListPartsPage) =>
  `${declaration}<ListPartsResult xmlns="${ns}">` +
  el("Bucket", p.bucket) +
  el("Key", p.key) +
  el("UploadId", p.uploadId) +
  ownerXml("Initiator") +
  ownerXml("Owner") +
  el("StorageClass", "STANDARD") +
  el("PartNumberMarker", p.partNumberMarker) +
  (p.nextPartNumberMarker !== undefined
    ? el("NextPartNumberMarker", p.nextPartNumberMarker)
    : p.parts.length > 0 ? el("NextPartNumberMarker", p.parts[p.parts.length - 1]!.partNumber) : "") +
  el("MaxParts", p.maxParts) +
  el("IsTruncated", p.nextPartNumberMarker !== undefined) +
  p.parts.map((part) =>
    `<Part>${el("PartNumber", part.partNumber)}${el("LastModified", isoTime(part.modifiedAt))}${el("ETag", `"${part.etag}"`)}${el("Size", part.size)}</Part>`
  ).join("") +
  `</ListPartsResult>`

export interface ListUploadsPage {
  readonly bucket: string
  readonly prefix: string
  readonly delimiter: string | undefined
  readonly keyMarker: string
  readonly uploadIdMarker: string
  readonly maxUploads: number
  readonly urlEncoded: boolean
  /** Set when more uploads follow this page. */
  readonly next: { readonly keyMarker: string; readonly uploadIdMarker: string } | undefined
  readonly uploads: ReadonlyArray<{ readonly key: string; readonly uploadId: string; readonly initiatedAt: number }>
  readonly commonPrefixes: ReadonlyArray<string>
}

export const listMultipartUploadsXml = (p: ListUploadsPage) => {
  const k = encoderFor(p.urlEncoded ? "url" : undefined)
  return `${declaration}<ListMultipartUploadsResult xmlns="${ns}">` +
    el("Bucket", p.bucket) +
    el("KeyMarker", k(p.keyMarker)) +
    el("UploadIdMarker", p.uploadIdMarker) +
    (p.next !== undefined ? el("NextKeyMarker", k(p.next.keyMarker)) + el("NextUploadIdMarker", p.next.uploadIdMarker) : "") +
    (p.urlEncoded ? el("EncodingType", "url") : "") +
    el("Prefix", k(p.prefix)) +
    (p.delimiter !== undefined ? el("Delimiter", k(p.delimiter)) : "") +
    el("MaxUploads", p.maxUploads) +
    el("IsTruncated", p.next !== undefined) +
    p.uploads.map((u) =>
      `<Upload>${el("Key", k(u.key))}${el("UploadId", u.uploadId)}${ownerXml("Initiator")}${ownerXml("Owner")}${el("StorageClass", "STANDARD")}${el("Initiated", isoTime(u.initiatedAt))}</Upload>`
    ).join("") +
    p.commonPrefixes.map((cp) => `<CommonPrefixes>${el("Prefix", k(cp))}</CommonPrefixes>`).join("") +
    `</ListMultipartUploadsResult>`
}

export interface RequestedPart {
  readonly partNumber: number
  /** Hex MD5 as the client sent it, quotes removed. */
  readonly etag: string
}

/**
 * Reads a CompleteMultipartUpload body: `<CompleteMultipartUpload><Part><PartNumber>…<ETag>…`.
 * Returns the parts in the order given (order and existence are checked by the caller), or a
 * string saying what is wrong with the document (S3's MalformedXML).
 */
export const parseCompleteMultipartUpload = (body: string): ReadonlyArray<RequestedPart> | string => {
  const root = requestDocument(body, "CompleteMultipartUpload")
  if (typeof root === "string") return root
  const parts: Array<RequestedPart> = []
  for (const part of childrenNamed(root, "Part")) {
    const number = childText(part, "PartNumber")
    const etag = childText(part, "ETag")
    if (number === undefined || !/^\d{1,5}$/.test(number)) return "every <Part> needs a numeric <PartNumber>"
    if (etag === undefined || etag === "") return `part ${number} has no <ETag>`
    parts.push({ partNumber: Number(number), etag: etag.replace(/^"+|"+$/g, "") })
  }
  if (parts.length === 0) return "a CompleteMultipartUpload body must list at least one <Part>"
  return parts
}
