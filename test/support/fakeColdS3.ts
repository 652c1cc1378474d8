import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { randomUUID } from "node:crypto"

/**
 * A FAKE S3 endpoint — not S3, not s3rver — for exactly what s3rver cannot do: storage
 * classes with GLACIER semantics and RestoreObject, plus multipart uploads with an injectable
 * part failure (to prove aborts). It answers HeadBucket, PUT/GET/HEAD/DELETE object,
 * ListObjectsV2 (one page), RestoreObject and Create/UploadPart/Complete/AbortMultipartUpload
 * on loopback, ignores signatures, and keeps everything in memory.
 *
 * GLACIER semantics as AWS documents them: a GET of a GLACIER / DEEP_ARCHIVE object answers
 * 403 InvalidObjectState until a RestoreObject completed; HEAD shows `x-amz-storage-class` and,
 * once a restore was asked for, `x-amz-restore: ongoing-request="true"` (then "false" with an
 * expiry date). RestoreObject answers 202 (accepted), 409 RestoreAlreadyInProgress, 200 when a
 * restored copy exists, and 403 InvalidObjectState for objects that are not archived. The test
 * decides when restores finish (`completeRestores`).
 */
export interface FakeObject {
  body: Buffer
  storageClass: string
  restore?: { days: number; tier: string; done: boolean }
}

const cold = new Set(["GLACIER", "DEEP_ARCHIVE"])

const xml = (res: ServerResponse, status: number, body: string) => {
  res.writeHead(status, { "content-type": "application/xml" })
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`)
}
const error = (res: ServerResponse, status: number, code: string, message: string, extra = "") =>
  xml(res, status, `<Error><Code>${code}</Code><Message>${message}</Message>${extra}<RequestId>fake</RequestId></Error>`)
const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

const readBody = (req: IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const parts: Array<Buffer> = []
    req.on("data", (d: Buffer) => parts.push(d))
    req.on("end", () => resolve(Buffer.concat(parts)))
    req.on("error", reject)
  })

export const startFakeColdS3 = async (bucket = "cold") => {
  const objects = new Map<string, FakeObject>()
  const uploads = new Map<string, { key: string; storageClass: string; parts: Map<number, Buffer> }>()
  /** Every object write as S3 saw it: which key, in which storage class, and how (single or multipart). */
  const writes: Array<{ key: string; storageClass: string; multipart: boolean }> = []
  const restoreRequests: Array<{ key: string; days: number | undefined; tier: string | undefined }> = []
  const faults = { failPart: undefined as number | undefined }

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://fake")
    const [, b, ...rest] = url.pathname.split("/")
    const key = decodeURIComponent(rest.join("/"))
    const q = url.searchParams
    const body = await readBody(req)
    if (b !== bucket) return error(res, 404, "NoSuchBucket", "The specified bucket does not exist")
    if (key === "") {
      if (req.method === "HEAD") return void res.writeHead(200).end()
      if (req.method === "GET" && q.get("list-type") === "2") {
        const prefix = q.get("prefix") ?? ""
        const keys = [...objects.keys()].filter((k) => k.startsWith(prefix)).sort()
        return xml(res, 200, `<ListBucketResult><Name>${bucket}</Name><Prefix>${escape(prefix)}</Prefix><KeyCount>${keys.length}</KeyCount><IsTruncated>false</IsTruncated>${
          keys.map((k) => `<Contents><Key>${escape(k)}</Key><Size>${objects.get(k)!.body.length}</Size><StorageClass>${objects.get(k)!.storageClass}</StorageClass></Contents>`).join("")
        }</ListBucketResult>`)
      }
      return error(res, 400, "NotImplemented", `fake S3 does not do ${req.method} on a bucket`)
    }
    const storageClass = (req.headers["x-amz-storage-class"] as string | undefined) ?? "STANDARD"
    // Multipart uploads.
    if (req.method === "POST" && q.has("uploads")) {
      const id = randomUUID()
      uploads.set(id, { key, storageClass, parts: new Map() })
      return xml(res, 200, `<InitiateMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${escape(key)}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`)
    }
    if (q.has("uploadId")) {
      const id = q.get("uploadId")!
      const u = uploads.get(id)
      if (!u) return error(res, 404, "NoSuchUpload", "The specified upload does not exist")
      if (req.method === "PUT") {
        const n = Number(q.get("partNumber"))
        if (faults.failPart === n) return error(res, 500, "InternalError", `fake S3: injected failure of part ${n}`)
        u.parts.set(n, body)
        res.writeHead(200, { etag: `"part-${n}"` })
        return void res.end()
      }
      if (req.method === "DELETE") {
        uploads.delete(id)
        return void res.writeHead(204).end()
      }
      if (req.method === "POST") {
        const numbers = [...body.toString().matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => Number(m[1]))
        if (numbers.length === 0 || numbers.some((n) => !u.parts.has(n))) return error(res, 400, "InvalidPart", "a listed part was not uploaded")
        uploads.delete(id)
        objects.set(u.key, { body: Buffer.concat(numbers.map((n) => u.parts.get(n)!)), storageClass: u.storageClass })
        writes.push({ key: u.key, storageClass: u.storageClass, multipart: true })
        return xml(res, 200, `<CompleteMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${escape(u.key)}</Key><ETag>"multipart-${numbers.length}"</ETag></CompleteMultipartUploadResult>`)
      }
    }
    const o = objects.get(key)
    if (req.method === "POST" && q.has("restore")) {
      if (!o) return error(res, 404, "NoSuchKey", "The specified key does not exist.")
      const days = /<Days>(\d+)<\/Days>/.exec(body.toString())?.[1]
      const tier = /<Tier>(\w+)<\/Tier>/.exec(body.toString())?.[1]
      restoreRequests.push({ key, days: days === undefined ? undefined : Number(days), tier })
      if (!cold.has(o.storageClass)) return error(res, 403, "InvalidObjectState", "Restore is not allowed for the object's current storage class")
      if (o.restore && !o.restore.done) return error(res, 409, "RestoreAlreadyInProgress", "Object restore is already in progress")
      if (o.restore?.done) return void res.writeHead(200).end()
      o.restore = { days: Number(days ?? 1), tier: tier ?? "Standard", done: false }
      return void res.writeHead(202).end()
    }
    if (req.method === "PUT") {
      objects.set(key, { body, storageClass })
      writes.push({ key, storageClass, multipart: false })
      res.writeHead(200, { etag: '"fake"' })
      return void res.end()
    }
    if (req.method === "DELETE") {
      objects.delete(key)
      return void res.writeHead(204).end()
    }
    if (!o) {
      if (req.method === "HEAD") return void res.writeHead(404).end()
      return error(res, 404, "NoSuchKey", "The specified key does not exist.")
    }
    const headers: Record<string, string | number> = { "content-length": o.body.length, etag: '"fake"' }
    if (o.storageClass !== "STANDARD") headers["x-amz-storage-class"] = o.storageClass
    if (o.restore) {
      headers["x-amz-restore"] = o.restore.done
        ? `ongoing-request="false", expiry-date="${new Date(Date.now() + o.restore.days * 86_400_000).toUTCString()}"`
        : 'ongoing-request="true"'
    }
    if (req.method === "HEAD") return void res.writeHead(200, headers).end()
    if (req.method === "GET") {
      if (cold.has(o.storageClass) && !o.restore?.done) {
        return error(res, 403, "InvalidObjectState", "The operation is not valid for the object's storage class",
          `<StorageClass>${o.storageClass}</StorageClass>`)
      }
      res.writeHead(200, headers)
      return void res.end(o.body)
    }
    return error(res, 400, "NotImplemented", `fake S3 does not do ${req.method} on an object`)
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e) => error(res, 500, "InternalError", escape(String(e))))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  return {
    endpoint,
    bucket,
    objects,
    uploads,
    writes,
    restoreRequests,
    faults,
    /** Every restore asked for so far finishes now (real S3 takes minutes to hours). */
    completeRestores: () => {
      for (const o of objects.values()) if (o.restore) o.restore.done = true
    },
    /** A `[[providers]]` entry for this fake. */
    toml: (name: string, storageClass?: string) =>
      [
        "[[providers]]",
        `name = "${name}"`,
        'type = "S3Compatible"',
        `bucket = "${bucket}"`,
        `endpoint_url = "${endpoint}"`,
        'access_key = "fake"',
        'secret_key = "fake"',
        ...(storageClass ? [`storage_class = "${storageClass}"`] : []),
        ""
      ].join("\n"),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
