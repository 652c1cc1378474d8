import { createHash, createHmac } from "node:crypto"

/** node:crypto behind the Hash interface @smithy/signature-v4 expects (to sign requests in tests). */
type SourceData = string | ArrayBuffer | ArrayBufferView
const toBuffer = (d: SourceData) =>
  typeof d === "string" ? Buffer.from(d, "utf8") : ArrayBuffer.isView(d) ? Buffer.from(d.buffer, d.byteOffset, d.byteLength) : Buffer.from(d)

export class NodeSha256 {
  private readonly h
  constructor(secret?: SourceData) {
    this.h = secret === undefined ? createHash("sha256") : createHmac("sha256", toBuffer(secret))
  }
  update(data: SourceData) {
    this.h.update(toBuffer(data))
  }
  digest() {
    return Promise.resolve(new Uint8Array(this.h.digest()))
  }
  reset() {}
}
