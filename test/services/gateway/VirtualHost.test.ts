import { describe, expect, it } from "vitest"
import { S3Error } from "../../../src/domain/s3/S3Error.ts"
import { addressOf } from "../../../src/services/gateway/VirtualHost.ts"

describe("addressOf (path-style and virtual-hosted-style)", () => {
  const domains = ["s3.local", "localhost"]
  it.each([
    ["/b/k/e%20y", "127.0.0.1:8333", { bucket: "b", key: "k/e y" }],
    ["/b", "127.0.0.1", { bucket: "b", key: "" }],
    ["/b/", "s3.local:8333", { bucket: "b", key: "" }],
    ["/", "localhost", { bucket: "", key: "" }],
    ["/k/e%20y", "my.bucket.s3.local:8333", { bucket: "my.bucket", key: "k/e y" }],
    ["/", "Photos.LOCALHOST", { bucket: "photos", key: "" }],
    ["/k", "b.other.example", { bucket: "k", key: "" }]
  ])("%s with Host %s", (path, host, expected) => {
    expect(addressOf(path, host, domains)).toEqual(expected)
  })

  it("answers InvalidURI for a broken percent-encoding", () => {
    const r = addressOf("/b/%E0%A4%A", "x", domains)
    expect(r).toBeInstanceOf(S3Error)
    expect((r as S3Error).code).toBe("InvalidURI")
  })
})
