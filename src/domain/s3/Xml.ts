/**
 * S3 XML response bodies. Pure string rendering; every text node is escaped.
 */
import { encoderFor, type EncodingType } from "./EncodingType.ts"

export const ns = "http://s3.amazonaws.com/doc/2006-03-01/"
export const declaration = `<?xml version="1.0" encoding="UTF-8"?>\n`

export const escapeXml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&apos;"))

export const el = (name: string, text: string | number | boolean) => `<${name}>${escapeXml(String(text))}</${name}>`

/** The one owner every bucket, object and upload has here, as `<Owner>` (or `<Initiator>`) in listings and ACLs. */
export const ownerXml = (tag = "Owner") => `<${tag}>${el("ID", "enigma")}${el("DisplayName", "enigma")}</${tag}>`

export const errorXml = (e: { readonly code: string; readonly message: string; readonly resource: string; readonly requestId: string }) =>
  `${declaration}<Error>${el("Code", e.code)}${el("Message", e.message)}${el("Resource", e.resource)}${el("RequestId", e.requestId)}</Error>`

export const isoTime = (ms: number) => new Date(ms).toISOString()

export const listBucketsXml = (buckets: ReadonlyArray<{ readonly name: string; readonly createdAt: number }>) =>
  `${declaration}<ListAllMyBucketsResult xmlns="${ns}">${ownerXml()}<Buckets>` +
  buckets.map((b) => `<Bucket>${el("Name", b.name)}${el("CreationDate", isoTime(b.createdAt))}</Bucket>`).join("") +
  `</Buckets></ListAllMyBucketsResult>`

export interface ListObjectsV2Page {
  readonly bucket: string
  readonly prefix: string
  readonly delimiter: string | undefined
  readonly maxKeys: number
  readonly continuationToken: string | undefined
  readonly startAfter: string | undefined
  readonly nextContinuationToken: string | undefined
  readonly contents: ReadonlyArray<{ readonly key: string; readonly modifiedAt: number; readonly etag: string; readonly size: number }>
  readonly commonPrefixes: ReadonlyArray<string>
  /** `fetch-owner=true`: each entry carries its Owner (V2 leaves it out unless asked). */
  readonly fetchOwner?: boolean
  /** `url`: keys, prefixes, delimiter and start-after are URL-encoded (EncodingType.ts). */
  readonly encodingType?: EncodingType
}

export const listObjectsV2Xml = (p: ListObjectsV2Page) => {
  const enc = encoderFor(p.encodingType)
  return `${declaration}<ListBucketResult xmlns="${ns}">` +
  el("Name", p.bucket) +
  el("Prefix", enc(p.prefix)) +
  (p.delimiter !== undefined ? el("Delimiter", enc(p.delimiter)) : "") +
  (p.encodingType !== undefined ? el("EncodingType", p.encodingType) : "") +
  el("MaxKeys", p.maxKeys) +
  el("KeyCount", p.contents.length + p.commonPrefixes.length) +
  el("IsTruncated", p.nextContinuationToken !== undefined) +
  (p.continuationToken !== undefined ? el("ContinuationToken", p.continuationToken) : "") +
  (p.nextContinuationToken !== undefined ? el("NextContinuationToken", p.nextContinuationToken) : "") +
  (p.startAfter !== undefined ? el("StartAfter", enc(p.startAfter)) : "") +
  p.contents.map((c) =>
    `<Contents>${el("Key", enc(c.key))}${el("LastModified", isoTime(c.modifiedAt))}${el("ETag", `"${c.etag}"`)}${el("Size", c.size)}${p.fetchOwner === true ? ownerXml() : ""}${el("StorageClass", "STANDARD")}</Contents>`
  ).join("") +
  p.commonPrefixes.map((cp) => `<CommonPrefixes>${el("Prefix", enc(cp))}</CommonPrefixes>`).join("") +
  `</ListBucketResult>`
}
