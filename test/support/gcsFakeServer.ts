/**
 * A FAKE of Google Cloud Storage's JSON API — not an emulator, not GCS. It serves the paths
 * @google-cloud/storage uses for what Enigma does, over real HTTP on loopback, and stores
 * objects as files (one directory per bucket, file name = the URL-encoded object name), so
 * tests can look at and damage them:
 *
 * - uploads: `POST /upload/storage/v1/b/B/o?uploadType=media|multipart|resumable`, and the
 *   resumable session's `PUT` (single-shot, or chunked with `Content-Range` and 308 replies);
 *   an `md5Hash` in the upload's metadata is checked, as GCS does.
 * - reads: `GET /storage/v1/b/B/o/NAME` (metadata) and `?alt=media` (bytes, with `Range`),
 *   also under `/download/storage/v1`.
 * - `GET /storage/v1/b/B/o?prefix=&pageToken=&maxResults=` (pages of at most `--page-size`),
 *   `DELETE /storage/v1/b/B/o/NAME`, `GET /storage/v1/b/B`.
 * - a missing bucket or object gets GCS's 404 bodies; anything else gets 501 naming the request.
 *
 * Run as its own process (the tests' CLI calls block their event loop):
 * `node gcsFakeServer.ts --dir DIR --port PORT [--page-size N] [--crash-after-chunks N]`;
 * buckets are directories in DIR. With `--crash-after-chunks N` the process exits, without
 * answering, when an upload of a `chunks/` object arrives after N of them were stored: a
 * server that dies at a known point in the middle of a backup.
 */
import { createHash, randomUUID } from "node:crypto"
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import * as path from "node:path"
import { parseArgs } from "node:util"

const crcTable = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()
/** CRC32C (Castagnoli), big-endian, base64: what GCS reports as `crc32c`. */
const crc32c = (data: Uint8Array) => {
  let c = 0xffffffff
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)
  const out = Buffer.alloc(4)
  out.writeUInt32BE((c ^ 0xffffffff) >>> 0)
  return out.toString("base64")
}
const md5 = (data: Uint8Array) => createHash("md5").update(data).digest("base64")

export interface GcsFakeOptions {
  readonly dir: string
  readonly pageSize: number
  /** Called with each object name before it is stored (the crash hook). */
  readonly beforeStore?: (name: string) => void
}

export const makeGcsFake = (o: GcsFakeOptions) => {
  const sessions = new Map<string, { bucket: string; name: string; metadata: Record<string, unknown>; parts: Array<Buffer>; received: number }>()
  const bucketDir = (bucket: string) => path.join(o.dir, bucket)
  const objectFile = (bucket: string, name: string) => path.join(bucketDir(bucket), encodeURIComponent(name))
  const tmpDir = path.join(o.dir, ".uploads")
  mkdirSync(tmpDir, { recursive: true })

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body)
    res.writeHead(status, { "content-type": "application/json; charset=UTF-8", "content-length": Buffer.byteLength(text), ...headers })
    res.end(text)
  }
  const error = (res: ServerResponse, status: number, message: string, reason: string) =>
    json(res, status, { error: { code: status, message, errors: [{ message, domain: "global", reason }] } })
  const noBucket = (res: ServerResponse) => error(res, 404, "The specified bucket does not exist.", "notFound")
  const noObject = (res: ServerResponse, bucket: string, name: string) => error(res, 404, `No such object: ${bucket}/${name}`, "notFound")

  const metadataOf = (bucket: string, name: string, data: Buffer, contentType = "application/octet-stream") => {
    const st = statSync(objectFile(bucket, name))
    const generation = String(Math.floor(st.mtimeMs * 1000))
    return {
      kind: "storage#object",
      id: `${bucket}/${name}/${generation}`,
      name,
      bucket,
      generation,
      metageneration: "1",
      contentType,
      storageClass: "STANDARD",
      size: String(data.length),
      md5Hash: md5(data),
      crc32c: crc32c(data),
      timeCreated: st.birthtime.toISOString(),
      updated: st.mtime.toISOString()
    }
  }

  /** Writes the object atomically (temp file + rename): readers see the old bytes or the new. */
  const store = (res: ServerResponse, bucket: string, name: string, data: Buffer, metadata: Record<string, unknown>) => {
    if (!existsSync(bucketDir(bucket))) return noBucket(res)
    o.beforeStore?.(name)
    if (typeof metadata.md5Hash === "string" && metadata.md5Hash !== md5(data)) {
      return error(res, 400, "Provided MD5 hash does not match the calculated MD5 hash of the object's data.", "invalid")
    }
    if (typeof metadata.crc32c === "string" && metadata.crc32c !== crc32c(data)) {
      return error(res, 400, "Provided CRC32C does not match the calculated CRC32C of the object's data.", "invalid")
    }
    const tmp = path.join(tmpDir, randomUUID())
    writeFileSync(tmp, data)
    renameSync(tmp, objectFile(bucket, name))
    return json(res, 200, metadataOf(bucket, name, data, typeof metadata.contentType === "string" ? metadata.contentType : undefined))
  }

  /** `multipart/related`: a JSON metadata part, then the media part. */
  const parseMultipart = (contentType: string, body: Buffer) => {
    const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1]
    if (boundary === undefined) return undefined
    const delimiter = Buffer.from(`--${boundary}`)
    const parts: Array<Buffer> = []
    let at = body.indexOf(delimiter)
    while (at !== -1) {
      const start = at + delimiter.length
      if (body.subarray(start, start + 2).toString() === "--") break
      const next = body.indexOf(delimiter, start)
      if (next === -1) break
      const part = body.subarray(start + 2, next - 2) // drop the CRLF after the delimiter and before the next
      const headerEnd = part.indexOf("\r\n\r\n")
      parts.push(part.subarray(headerEnd + 4))
      at = next
    }
    if (parts.length !== 2) return undefined
    return { metadata: JSON.parse(parts[0]!.toString("utf8")) as Record<string, unknown>, media: parts[1]! }
  }

  const listObjects = (res: ServerResponse, bucket: string, q: URLSearchParams) => {
    if (!existsSync(bucketDir(bucket))) return noBucket(res)
    const prefix = q.get("prefix") ?? ""
    const after = q.has("pageToken") ? Buffer.from(q.get("pageToken")!, "base64url").toString("utf8") : undefined
    const max = Math.min(Number(q.get("maxResults") ?? o.pageSize) || o.pageSize, o.pageSize)
    const names = readdirSync(bucketDir(bucket)).map((f) => decodeURIComponent(f))
      .filter((n) => n.startsWith(prefix) && (after === undefined || n > after))
      .sort()
    const page = names.slice(0, max)
    const items = page.flatMap((n) => {
      try {
        return [metadataOf(bucket, n, readFileSync(objectFile(bucket, n)))]
      } catch {
        return [] // deleted while listing
      }
    })
    return json(res, 200, {
      kind: "storage#objects",
      ...(items.length > 0 ? { items } : {}),
      ...(names.length > max ? { nextPageToken: Buffer.from(page[page.length - 1]!).toString("base64url") } : {})
    })
  }

  const readObject = (req: IncomingMessage, res: ServerResponse, bucket: string, name: string, q: URLSearchParams) => {
    if (!existsSync(bucketDir(bucket))) return noBucket(res)
    let data: Buffer
    try {
      data = readFileSync(objectFile(bucket, name))
    } catch {
      return noObject(res, bucket, name)
    }
    const meta = metadataOf(bucket, name, data)
    if (q.get("alt") !== "media") return json(res, 200, meta)
    const headers: Record<string, string | number> = {
      "content-type": meta.contentType,
      "x-goog-hash": `crc32c=${meta.crc32c},md5=${meta.md5Hash}`,
      "x-goog-stored-content-encoding": "identity",
      "x-goog-stored-content-length": data.length,
      "x-goog-generation": meta.generation
    }
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "")
    if (range && (range[1] !== "" || range[2] !== "")) {
      const [start, end] = range[1] === ""
        ? [Math.max(0, data.length - Number(range[2])), data.length - 1]
        : [Number(range[1]), range[2] === "" ? data.length - 1 : Math.min(Number(range[2]), data.length - 1)]
      if (start >= data.length || start > end) {
        res.writeHead(416, { "content-range": `bytes */${data.length}` })
        return res.end()
      }
      const slice = data.subarray(start, end + 1)
      res.writeHead(206, { ...headers, "content-length": slice.length, "content-range": `bytes ${start}-${end}/${data.length}` })
      return res.end(slice)
    }
    res.writeHead(200, { ...headers, "content-length": data.length })
    return res.end(data)
  }

  const upload = (req: IncomingMessage, res: ServerResponse, bucket: string, q: URLSearchParams, body: Buffer) => {
    const type = q.get("uploadType") ?? req.headers["x-goog-upload-protocol"]
    if (type === "media") {
      const name = q.get("name")
      if (!name) return error(res, 400, "Required parameter: name", "required")
      return store(res, bucket, name, body, { contentType: req.headers["content-type"] })
    }
    if (type === "multipart") {
      const parsed = parseMultipart(String(req.headers["content-type"] ?? ""), body)
      if (parsed === undefined) return error(res, 400, "Malformed multipart body.", "invalid")
      const name = q.get("name") ?? (typeof parsed.metadata.name === "string" ? parsed.metadata.name : "")
      if (!name) return error(res, 400, "Required parameter: name", "required")
      return store(res, bucket, name, parsed.media, parsed.metadata)
    }
    if (type === "resumable") {
      if (!existsSync(bucketDir(bucket))) return noBucket(res)
      const metadata = body.length > 0 ? JSON.parse(body.toString("utf8")) as Record<string, unknown> : {}
      const name = q.get("name") ?? (typeof metadata.name === "string" ? metadata.name : "")
      if (!name) return error(res, 400, "Required parameter: name", "required")
      const id = randomUUID()
      sessions.set(id, { bucket, name, metadata, parts: [], received: 0 })
      const host = req.headers.host
      return json(res, 200, {}, {
        location: `http://${host}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&upload_id=${id}`
      })
    }
    return error(res, 501, `gcs fake: uploadType ${String(type)} is not served`, "notImplemented")
  }

  /** A resumable session's PUT: `Content-Range: bytes A-B/TOTAL`, `bytes A-B/*`, or `bytes *\/TOTAL` (status). */
  const resume = (req: IncomingMessage, res: ServerResponse, q: URLSearchParams, body: Buffer) => {
    const session = sessions.get(q.get("upload_id") ?? "")
    if (session === undefined) return error(res, 404, "No such upload session.", "notFound")
    const range = /^bytes (\*|(\d+)-(\d+|\*))\/(\d+|\*)$/.exec(String(req.headers["content-range"] ?? ""))
    const total = range?.[4] === undefined || range[4] === "*" ? undefined : Number(range[4])
    if (range?.[1] !== "*") {
      const start = range?.[2] === undefined ? 0 : Number(range[2])
      if (start !== session.received) return error(res, 400, `Upload offset ${start} does not match ${session.received}.`, "invalid")
      session.parts.push(body)
      session.received += body.length
    }
    // Done when the total is reached, or when a single-shot PUT (no range, or an open end) ends.
    const done = total !== undefined ? session.received >= total : range === null || range[3] === "*"
    if (!done) {
      res.writeHead(308, session.received > 0 ? { range: `bytes=0-${session.received - 1}` } : {})
      return res.end()
    }
    sessions.delete(q.get("upload_id")!)
    return store(res, session.bucket, session.name, Buffer.concat(session.parts), session.metadata)
  }

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const url = new URL(req.url ?? "/", "http://fake")
    const q = url.searchParams
    const p = url.pathname
    let m: RegExpExecArray | null
    if ((m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(p))) {
      const bucket = decodeURIComponent(m[1]!)
      if (req.method === "POST") return upload(req, res, bucket, q, body)
      if (req.method === "PUT") return resume(req, res, q, body)
    }
    if ((m = /^(?:\/download)?\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(p))) {
      const bucket = decodeURIComponent(m[1]!)
      const name = decodeURIComponent(m[2]!)
      if (req.method === "GET") return readObject(req, res, bucket, name, q)
      if (req.method === "DELETE") {
        if (!existsSync(bucketDir(bucket))) return noBucket(res)
        try {
          unlinkSync(objectFile(bucket, name))
        } catch {
          return noObject(res, bucket, name)
        }
        res.writeHead(204)
        return res.end()
      }
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(p)) && req.method === "GET") return listObjects(res, decodeURIComponent(m[1]!), q)
    if ((m = /^\/storage\/v1\/b\/([^/]+)$/.exec(p)) && req.method === "GET") {
      const bucket = decodeURIComponent(m[1]!)
      if (!existsSync(bucketDir(bucket))) return noBucket(res)
      return json(res, 200, { kind: "storage#bucket", id: bucket, name: bucket, storageClass: "STANDARD", location: "US" })
    }
    return error(res, 501, `gcs fake: ${req.method} ${p} is not served`, "notImplemented")
  }

  return createServer((req, res) => {
    const parts: Array<Buffer> = []
    req.on("data", (d: Buffer) => parts.push(d))
    req.on("end", () => {
      try {
        handle(req, res, Buffer.concat(parts))
      } catch (cause) {
        error(res, 500, `gcs fake: ${String(cause)}`, "backendError")
      }
    })
  })
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { dir: { type: "string" }, port: { type: "string" }, "page-size": { type: "string" }, "crash-after-chunks": { type: "string" } }
  })
  const crashAfter = values["crash-after-chunks"] === undefined ? undefined : Number(values["crash-after-chunks"])
  let chunks = 0
  const server = makeGcsFake({
    dir: values.dir!,
    pageSize: Number(values["page-size"] ?? 1000),
    beforeStore: (name) => {
      if (crashAfter === undefined || !name.startsWith("chunks/")) return
      if (chunks++ >= crashAfter) {
        console.log(`gcs fake: crashing at chunk upload ${chunks} (${name}), as asked`)
        process.exit(3)
      }
    }
  })
  server.listen(Number(values.port), "127.0.0.1", () => console.log(`gcs fake listening on ${values.port}`))
  process.on("SIGTERM", () => process.exit(0))
}
