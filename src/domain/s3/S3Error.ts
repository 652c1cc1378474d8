import { Schema } from "effect"

/**
 * An S3 protocol error: the code and HTTP status S3 uses for it (NoSuchKey 404,
 * SignatureDoesNotMatch 403…). The gateway renders it as S3 XML (Xml.ts `errorXml`).
 */
export class S3Error extends Schema.TaggedError<S3Error>()("S3Error", {
  code: Schema.String,
  status: Schema.Number,
  detail: Schema.String
}) {
  override get message() {
    return this.detail
  }
}

export const s3Error = (code: string, status: number, detail: string) => new S3Error({ code, status, detail })

export const notImplemented = (what: string) =>
  s3Error("NotImplemented", 501, `${what} is not supported by this gateway`)

/** A request body that is not the XML the operation takes; `problem` says what is wrong with it. */
export const malformedXml = (problem: string) =>
  s3Error("MalformedXML", 400, `The XML you provided was not well-formed or did not validate against our published schema: ${problem}`)
