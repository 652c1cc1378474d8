import { declaration, el, ns } from "./Xml.ts"
import { childrenNamed, requestDocument } from "./XmlParse.ts"

/**
 * Object tags (S3's object tagging): the `x-amz-tagging` header of PutObject, CopyObject and
 * CreateMultipartUpload (`k1=v1&k2=v2`, URL-encoded), and the `<Tagging>` body of
 * Get/PutObjectTagging. Lifecycle rules and IAM policies select by tags at S3; clients that set
 * tags (`aws s3 cp --tagging`, rclone's tag options, SDK `Tagging`) read them back and expect
 * them kept.
 */

/** Tags in the order given; keys unique. */
export type Tags = ReadonlyArray<readonly [string, string]>

/** S3's limits: at most 10 tags, keys of 1–128 characters, values of 0–256. */
export const maxTags = 10
const maxKeyLength = 128
const maxValueLength = 256

/** Why `tags` is not a tag set S3 accepts (its InvalidTag answer), or undefined. */
export const tagsProblem = (tags: Tags): string | undefined => {
  if (tags.length > maxTags) return `Object tags cannot be greater than ${maxTags}: ${tags.length} given`
  const seen = new Set<string>()
  for (const [k, v] of tags) {
    // Lengths in Unicode characters, as S3 counts them.
    const keyLength = [...k].length
    if (keyLength === 0 || keyLength > maxKeyLength) return `The TagKey you have provided is invalid: a key must be 1 to ${maxKeyLength} characters`
    if ([...v].length > maxValueLength) return `The TagValue you have provided is invalid: a value must be at most ${maxValueLength} characters (key ${k})`
    if (k.toLowerCase().startsWith("aws:")) return `Your TagKey cannot be prefixed with aws: (${k})`
    if (seen.has(k)) return `Cannot provide multiple Tags with the same key (${k})`
    seen.add(k)
  }
  return undefined
}

/** The `x-amz-tagging` header's tags (already UTF-8 decoded), or why they are refused. */
export const parseTaggingHeader = (value: string): Tags | { readonly problem: string } => {
  const tags: Array<readonly [string, string]> = []
  if (value.trim() !== "") {
    for (const pair of value.split("&")) {
      const at = pair.indexOf("=")
      const decode = (s: string) => {
        try {
          return decodeURIComponent(s.replaceAll("+", " "))
        } catch {
          return undefined
        }
      }
      const k = decode(at < 0 ? pair : pair.slice(0, at))
      const v = decode(at < 0 ? "" : pair.slice(at + 1))
      if (k === undefined || v === undefined) return { problem: `The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates: bad escape in "${pair}"` }
      tags.push([k, v])
    }
  }
  const problem = tagsProblem(tags)
  return problem === undefined ? tags : { problem }
}

/** The tags of a PutObjectTagging body, or why it is refused (`malformed`: not the schema; else InvalidTag). */
export const parseTaggingXml = (body: string): Tags | { readonly malformed: boolean; readonly problem: string } => {
  const root = requestDocument(body, "Tagging")
  if (typeof root === "string") return { malformed: true, problem: root }
  const sets = childrenNamed(root, "TagSet")
  if (sets.length !== 1) return { malformed: true, problem: "<Tagging> must hold one <TagSet>" }
  const tags: Array<readonly [string, string]> = []
  for (const tag of childrenNamed(sets[0]!, "Tag")) {
    // Keys and values verbatim (not trimmed): S3 keeps their spaces.
    const key = tag.children.find((c) => c.name === "Key")
    const value = tag.children.find((c) => c.name === "Value")
    if (key === undefined || value === undefined) return { malformed: true, problem: "every <Tag> needs a <Key> and a <Value>" }
    tags.push([key.text, value.text])
  }
  const problem = tagsProblem(tags)
  return problem === undefined ? tags : { malformed: false, problem }
}

/** GetObjectTagging's answer. */
export const taggingXml = (tags: Tags): string =>
  `${declaration}<Tagging xmlns="${ns}"><TagSet>${tags.map(([k, v]) => `<Tag>${el("Key", k)}${el("Value", v)}</Tag>`).join("")}</TagSet></Tagging>`
