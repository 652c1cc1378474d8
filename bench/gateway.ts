/**
 * S3 gateway benchmark (issue 4): the same S3 workloads through `enigma proxy` (on a Local
 * provider) and against s3rver directly, in one run.
 *
 *   node bench/gateway.ts                  # or: npm run bench:gateway — 256 MiB objects, 1 and 8 clients
 *   node bench/gateway.ts --quick          # 64 MiB objects, 1 and 4 clients, 500 small ops
 *   node bench/gateway.ts --data-dir DIR   # scratch data under DIR instead of .bench-data/
 *   node bench/gateway.ts --only put-small,get-small --no-s3rver   # a subset, to study one workload
 *   ENIGMA_BENCH_GATEWAY_PROFILE=DIR …     # the gateway writes a V8 CPU profile into DIR
 *
 * Workloads, for each target: PUT of large objects by 1 client (2 objects, one after the other),
 * then by N concurrent clients (one object each); GET of those objects (1 client, then N); then
 * 4 KiB PUT and GET at concurrency 32. Then, through the gateway only, the memory check: a
 * 5 GiB object (--quick: 1 GiB) PUT and read back by one client on a fresh server, whose peak RSS
 * must stay within 15% of a 1 GiB object's on another fresh server (memory bounded by
 * configuration, not by the body's length; `--no-memory-check` leaves it out). Requests are raw
 * node:http over a keep-alive agent (large GETs: a plain socket), signed with SigV4
 * (`x-amz-content-sha256: UNSIGNED-PAYLOAD`) by a small signer checked against
 * @smithy/signature-v4 at start: far lighter on the shared CPU than the SDK, so the figures are
 * the server's.
 *
 * Plain Node 24 (type stripping): no enums, namespaces or parameter properties.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import { createHash, createHmac, randomFillSync } from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { SignatureV4 } from "@smithy/signature-v4"
import { NodeSha256 } from "../test/support/nodeSha256.ts"
import { freePort, spawnServer } from "../test/support/server.ts"
import { enigmaCli, repoRoot, revision, snapshotDist } from "./_dist.ts"
import { descendants, procArgs, procCpu, procStatus } from "./_proc.ts"

// ---------------------------------------------------------------------------------------------
// Options and constants

const argv = process.argv.slice(2)
const quick = argv.includes("--quick")
const dataDirArg = (() => {
  const i = argv.indexOf("--data-dir")
  return i >= 0 ? argv[i + 1] : undefined
})()
/** `--only ID,…`: run these workloads only (a GET needs its PUT in the same run). */
const onlyArg = (() => {
  const i = argv.indexOf("--only")
  return i >= 0 ? new Set((argv[i + 1] ?? "").split(",")) : undefined
})()
const withS3rver = !argv.includes("--no-s3rver")
/** A directory for the gateway's CPU profile (node --cpu-prof), to see where its time goes. */
const profileDir = process.env.ENIGMA_BENCH_GATEWAY_PROFILE
const MiB = 1024 * 1024
/** One large object: 256 MiB (--quick: 64 MiB). */
const largeSize = (quick ? 64 : 256) * MiB
/** Large objects PUT (and then GET) one after the other by the single client. */
const singleCount = 2
/** Concurrent clients of the second large workload, one object each: 8 (--quick: 4). */
const manyClients = quick ? 4 : 8
/**
 * The memory check (issue 4: a body of any length holds memory bounded by configuration): a
 * fresh gateway process PUTs and GETs one 1 GiB object, then another fresh one a 5 GiB object
 * (--quick: 256 MiB and 1 GiB), one client each time. Each process starts from the same state and
 * does the same things, so only the body's length differs between their peaks. The shorter body
 * is long enough for the process to settle (its V8 heap and malloc arenas grow over the first
 * few hundred MB: a 256 MiB body peaked 15–20% below a 5 GiB one, which then stayed level).
 */
const shortSize = (quick ? 256 : 1024) * MiB
const hugeSize = (quick ? 1024 : 5120) * MiB
/** The memory check passes if the long body's peak RSS is at most this × the short one's. */
const hugeRssGrowth = 1.15
const memoryCheck = !argv.includes("--no-memory-check") && (onlyArg === undefined || onlyArg.has("memory"))
const smallSize = 4096
const smallOps = quick ? 500 : 3000
const smallConcurrency = 32
const resultsRoot = path.join(repoRoot, ".bench-data")
const dataRoot = path.resolve(dataDirArg ?? resultsRoot)
const resultsFile = path.join(resultsRoot, "gateway-results.json")
const passphrase = "bench"
const bucket = "bench"
const gatewayKeys = { accessKeyId: "enigma-bench", secretAccessKey: "bench-secret/key+1" }
const s3rverKeys = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" }
/** The issue's targets. */
const largePutTarget = 300 // MB/s
const largeGetTarget = 500 // MB/s
const smallPutTarget = 2000 // ops/s

// ---------------------------------------------------------------------------------------------
// Request bodies. Every large object has its own content, so the gateway cannot deduplicate one
// against another, yet the client neither generates nor copies bytes while it is timed: an object
// is a sequence of 256 KiB blocks, each a view of a 64 MiB random pool at an offset hashed from
// (object, block). A chunk the gateway could share between two objects would have to contain the
// same run of offsets: every chunk is at least 1 MiB with init's defaults (CDC 4 MiB, min 1 MiB),
// so it spans ≥ 3 block joins, each one of ~2^26 offsets. The GETs compare every byte received with
// the pool (memcmp, cheaper than receiving it), so a gateway returning the wrong bytes fails.

const poolSize = 64 * MiB
const blockSize = 256 * 1024
const pool = randomFillSync(Buffer.allocUnsafe(poolSize))

/** A 32-bit hash of two integers (murmur3's finalizer over a mix of both). */
const mix = (a: number, b: number) => {
  let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}
const blockOffset = (object: number, block: number) => mix(object + 1, block) % (poolSize - blockSize + 1)

/** Small object i: 4 KiB of the pool at i × 4099 (distinct offsets, so distinct random contents). */
const smallStride = 4099
if ((smallOps - 1) * smallStride + smallSize > poolSize) throw new Error("the pool is too small for that many small objects")
const smallBody = (i: number) => pool.subarray(i * smallStride, i * smallStride + smallSize)

/** Checks a large object's bytes as they arrive; returns an error message on the first difference. */
const largeVerifier = (object: number, size: number) => {
  let pos = 0
  return {
    check: (d: Buffer): string | undefined => {
      let i = 0
      while (i < d.length) {
        if (pos >= size) return `more than the object's ${size} bytes`
        const block = Math.floor(pos / blockSize)
        const inBlock = pos - block * blockSize
        const n = Math.min(d.length - i, blockSize - inBlock, size - pos)
        const off = blockOffset(object, block) + inBlock
        if (pool.compare(d, i, i + n, off, off + n) !== 0) return `content differs from what was PUT, within bytes ${pos}–${pos + n}`
        i += n
        pos += n
      }
      return undefined
    }
  }
}

// ---------------------------------------------------------------------------------------------
// /proc: RSS and CPU time of a server process

const cmdline = (pid: number) => procArgs(pid).join(" ")

/**
 * Samples a server over one workload: the peak RSS (VmHWM, after resetting it through
 * /proc/PID/clear_refs so it covers this workload alone; VmRSS polled every 100 ms as well, and
 * alone when the reset is refused) and the CPU seconds it used.
 */
const startMonitor = (pid: number) => {
  let reset = false
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, "5")
    reset = true
  } catch {
    // Older kernels or no permission: fall back to the polled VmRSS.
  }
  let peak = procStatus(pid, "VmRSS") ?? 0
  const cpu0 = procCpu(pid)
  /** VmRSS every 100 ms: whether memory climbs over a workload or levels off. */
  const samples: Array<number> = []
  const timer = setInterval(() => {
    const rss = procStatus(pid, "VmRSS") ?? 0
    samples.push(rss)
    peak = Math.max(peak, rss)
  }, 100)
  return () => {
    clearInterval(timer)
    peak = Math.max(peak, procStatus(pid, "VmRSS") ?? 0)
    if (reset) peak = Math.max(peak, procStatus(pid, "VmHWM") ?? 0)
    const cpu1 = procCpu(pid)
    return { peakRss: peak > 0 ? peak : undefined, samples, cpuSeconds: cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined, rssMethod: reset ? "VmHWM" : "VmRSS polled" }
  }
}

// ---------------------------------------------------------------------------------------------
// Signed raw HTTP

interface Credentials {
  readonly accessKeyId: string
  readonly secretAccessKey: string
}

/**
 * SigV4 for this client's requests (Authorization header, UNSIGNED-PAYLOAD; paths need no
 * escaping, no query strings). Written out rather than @smithy/signature-v4 per request because
 * smithy's signing costs ~150–300 µs of CPU a request here, as much as the request itself: at
 * thousands of small requests a second the client would compete with the server for the two
 * cores. `checkSigner` proves it signs exactly as smithy does before anything is measured.
 */
class Signer {
  readonly credentials: Credentials
  readonly region: string
  private keyDate = ""
  private key: Buffer = Buffer.alloc(0)
  constructor(credentials: Credentials, region = "us-east-1") {
    this.credentials = credentials
    this.region = region
  }
  /** The headers to send: `headers` (lower-case names) plus x-amz-date and authorization. */
  sign(method: string, p: string, headers: Record<string, string>, now = new Date()): Record<string, string> {
    const amzDate = now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "")
    const date = amzDate.slice(0, 8)
    if (date !== this.keyDate) {
      const hmac = (k: string | Buffer, v: string) => createHmac("sha256", k).update(v).digest()
      this.key = hmac(hmac(hmac(hmac(`AWS4${this.credentials.secretAccessKey}`, date), this.region), "s3"), "aws4_request")
      this.keyDate = date
    }
    const all: Record<string, string> = { ...headers, "x-amz-date": amzDate }
    const names = Object.keys(all).sort()
    const signedHeaders = names.join(";")
    const canonical = `${method}\n${p}\n\n${names.map((n) => `${n}:${all[n]!.trim()}\n`).join("")}\n${signedHeaders}\n${all["x-amz-content-sha256"] ?? "UNSIGNED-PAYLOAD"}`
    const scope = `${date}/${this.region}/s3/aws4_request`
    const stringToSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${createHash("sha256").update(canonical).digest("hex")}`
    const signature = createHmac("sha256", this.key).update(stringToSign).digest("hex")
    all.authorization = `AWS4-HMAC-SHA256 Credential=${this.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`
    return all
  }
}

/** Fails unless Signer's Authorization equals @smithy/signature-v4's for the same requests. */
const checkSigner = async (credentials: Credentials) => {
  const smithy = new SignatureV4({ service: "s3", region: "us-east-1", credentials, sha256: NodeSha256, uriEscapePath: false })
  const mine = new Signer(credentials)
  const when = new Date()
  for (const [method, p, length] of [["PUT", "/bench/large-001", largeSize], ["GET", "/bench/small/00042", undefined], ["PUT", "/bench", 0]] as const) {
    const headers: Record<string, string> = { host: "127.0.0.1:8333", "x-amz-content-sha256": "UNSIGNED-PAYLOAD" }
    if (length !== undefined) headers["content-length"] = String(length)
    const theirs = await smithy.sign({ method, protocol: "http:", hostname: "127.0.0.1", port: 8333, path: p, headers: { ...headers } }, { signingDate: when })
    const ours = mine.sign(method, p, headers, when)
    if (theirs.headers.authorization !== ours.authorization) {
      throw new Error(`the bench's SigV4 signer disagrees with @smithy/signature-v4 on ${method} ${p}:\n  smithy: ${theirs.headers.authorization}\n  bench:  ${ours.authorization}`)
    }
  }
}

interface Target {
  readonly name: "gateway" | "s3rver"
  readonly port: number
  readonly pid: number
  readonly agent: http.Agent
  readonly signer: Signer
  /** Whether the server process is still running, and its last output if not. */
  readonly alive: () => string | undefined
}

const makeTarget = (name: Target["name"], port: number, pid: number, credentials: Credentials, alive: () => string | undefined): Target => ({
  name,
  port,
  pid,
  // Enough sockets for every client at once; kept alive, as S3 clients do.
  agent: new http.Agent({ keepAlive: true, maxSockets: 64 }),
  signer: new Signer(credentials),
  alive
})

const signedHeaders = (t: Target, method: string, p: string, length: number | undefined, extra: Record<string, string> = {}) => {
  const headers: Record<string, string> = { host: `127.0.0.1:${t.port}`, "x-amz-content-sha256": "UNSIGNED-PAYLOAD", ...extra }
  if (length !== undefined) headers["content-length"] = String(length)
  return t.signer.sign(method, p, headers)
}

/** Resolves when the request can take more bytes, or has closed. */
const drained = (req: http.ClientRequest) =>
  new Promise<void>((resolve) => {
    const done = () => {
      req.off("drain", done)
      req.off("close", done)
      resolve()
    }
    req.once("drain", done)
    req.once("close", done)
  })

interface Response {
  readonly status: number
  readonly bytes: number
  /** The body (up to 8 KiB) when no `onData` consumed it, or when the status is not 2xx. */
  readonly text: string
}

/**
 * One signed request. `body` streams the request body (the caller gives its `length`); `onData`
 * sees each piece of a 2xx response body and may reject it with a message.
 */
const request = (
  t: Target,
  method: string,
  p: string,
  o: { readonly length?: number; readonly body?: (req: http.ClientRequest) => Promise<void> | void; readonly onData?: (d: Buffer) => string | undefined } = {}
): Promise<Response> => {
  const headers = signedHeaders(t, method, p, o.length)
  return new Promise<Response>((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: t.port, method, path: p, headers, agent: t.agent })
    let settled = false
    const fail = (e: unknown) => {
      if (settled) return
      settled = true
      req.destroy()
      reject(e instanceof Error ? e : new Error(String(e)))
    }
    req.on("error", fail)
    req.on("response", (res) => {
      const status = res.statusCode ?? 0
      const ok = status >= 200 && status < 300
      const text: Array<Buffer> = []
      let textBytes = 0
      let bytes = 0
      res.on("data", (d: Buffer) => {
        bytes += d.length
        if (ok && o.onData) {
          const e = o.onData(d)
          if (e !== undefined) fail(new Error(`${method} ${p}: ${e}`))
        } else if (textBytes < 8192) {
          text.push(d)
          textBytes += d.length
        }
      })
      res.on("error", fail)
      res.on("end", () => {
        if (settled) return
        settled = true
        resolve({ status, bytes, text: Buffer.concat(text).toString("utf8").slice(0, 8192) })
      })
    })
    if (o.body) {
      Promise.resolve(o.body(req)).then(() => req.end(), fail)
    } else {
      req.end()
    }
  })
}

const expectStatus = (method: string, p: string, r: Response, status = 200) => {
  if (r.status !== status) throw new Error(`${method} ${p}: HTTP ${r.status} (expected ${status}): ${r.text.trim().slice(0, 500)}`)
}

// ---------------------------------------------------------------------------------------------
// Operations

const largeKey = (object: number) => `/${bucket}/large-${String(object).padStart(3, "0")}`
const smallKey = (i: number) => `/${bucket}/small/${String(i).padStart(5, "0")}`

const putLarge = async (t: Target, object: number, size = largeSize) => {
  const p = largeKey(object)
  const r = await request(t, "PUT", p, {
    length: size,
    body: async (req) => {
      for (let block = 0, pos = 0; pos < size; block++, pos += blockSize) {
        if (req.destroyed) return
        const off = blockOffset(object, block)
        if (!req.write(pool.subarray(off, off + Math.min(blockSize, size - pos)))) await drained(req)
      }
    }
  })
  expectStatus("PUT", p, r)
  return size
}

/**
 * GET of a large object over a plain TCP socket (`Connection: close`), read with `onread` into one
 * reused 1 MiB buffer and compared with the pool as it arrives. node:http allocates a Buffer and
 * runs its parser for every 64 KiB read: ~0.45 CPU-s per 256 MiB here, against ~0.08 s this way,
 * and the client must not take the CPU the server needs to reach 500 MB/s.
 */
const getLarge = (t: Target, object: number, size = largeSize) =>
  new Promise<number>((resolve, reject) => {
    const p = largeKey(object)
    const headers = signedHeaders(t, "GET", p, undefined, { connection: "close" })
    const head = `GET ${p} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`
    const v = largeVerifier(object, size)
    let pending: Buffer | undefined = Buffer.alloc(0) // the response head, until its blank line
    let status = 0
    let length = -1
    let received = 0
    let error: string | undefined
    const errorBody: Array<Buffer> = []
    let settled = false
    const finish = () => {
      if (settled) return
      settled = true
      sock.destroy()
      if (error !== undefined) return reject(new Error(`GET ${p}: ${error}`))
      if (pending !== undefined) return reject(new Error(`GET ${p}: the connection closed before the response head was complete`))
      if (status !== 200) return reject(new Error(`GET ${p}: HTTP ${status} (expected 200): ${Buffer.concat(errorBody).toString("utf8").trim().slice(0, 500)}`))
      if (received !== length || received !== size) return reject(new Error(`GET ${p}: ${received} bytes (Content-Length ${length}), expected ${size}`))
      resolve(received)
    }
    const onBody = (b: Buffer) => {
      received += b.length
      if (status !== 200) {
        if (received <= 8192) errorBody.push(Buffer.from(b))
      } else if (error === undefined) {
        error = v.check(b)
      }
      if (error !== undefined || (length >= 0 && received >= length)) finish()
    }
    const sock = net.connect({
      host: "127.0.0.1",
      port: t.port,
      onread: {
        buffer: Buffer.allocUnsafe(MiB),
        callback: (n: number, buf: Uint8Array) => {
          if (settled) return false
          const piece = Buffer.from(buf.buffer, buf.byteOffset, n)
          if (pending === undefined) {
            onBody(piece)
            return true
          }
          const all = Buffer.concat([pending, piece])
          const end = all.indexOf("\r\n\r\n")
          if (end < 0) {
            pending = all
            if (all.length > 65536) {
              error = "a response head over 64 KiB"
              finish()
            }
            return true
          }
          pending = undefined
          const lines = all.subarray(0, end).toString("latin1").split("\r\n")
          status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "")?.[1] ?? 0)
          for (const line of lines.slice(1)) {
            const colon = line.indexOf(":")
            const name = line.slice(0, colon).trim().toLowerCase()
            const value = line.slice(colon + 1).trim()
            if (name === "content-length") length = Number(value)
            if (name === "transfer-encoding" && value.toLowerCase() !== "identity") error = `Transfer-Encoding ${value}: this client reads Content-Length bodies only`
          }
          if (error === undefined && status === 200 && length < 0) error = "no Content-Length"
          if (error !== undefined) finish()
          else if (all.length > end + 4) onBody(all.subarray(end + 4))
          else if (length === 0) finish()
          return true
        }
      }
    })
    sock.on("connect", () => sock.write(head))
    sock.on("error", (e) => {
      error ??= e.message
      finish()
    })
    sock.on("close", finish)
  })

const putSmall = async (t: Target, i: number) => {
  const p = smallKey(i)
  const r = await request(t, "PUT", p, { length: smallSize, body: (req) => void req.write(smallBody(i)) })
  expectStatus("PUT", p, r)
  return smallSize
}

const getSmall = async (t: Target, i: number) => {
  const p = smallKey(i)
  const parts: Array<Buffer> = []
  const r = await request(t, "GET", p, {
    onData: (d) => {
      parts.push(d)
      return undefined
    }
  })
  expectStatus("GET", p, r)
  const got = Buffer.concat(parts)
  if (got.length !== smallSize) throw new Error(`GET ${p}: ${got.length} bytes, expected ${smallSize}`)
  if (!got.equals(smallBody(i))) throw new Error(`GET ${p}: content differs from what was PUT`)
  return got.length
}

// ---------------------------------------------------------------------------------------------
// Workloads and results

type WorkloadId = "put-large-1" | "put-large-N" | "get-large-1" | "get-large-N" | "put-small" | "get-small" | "put-short" | "get-short" | "put-huge" | "get-huge"

interface Workload {
  readonly id: WorkloadId
  readonly label: string
  readonly kind: "large" | "small"
  readonly concurrency: number
  readonly count: number
  readonly op: (t: Target, i: number) => Promise<number>
  /** Print the server's VmRSS at quarters of the workload (the memory check: does it climb?). */
  readonly rssOverTime?: boolean
}

const allWorkloads: ReadonlyArray<Workload> = [
  { id: "put-large-1", label: `PUT ${largeSize / MiB} MiB × ${singleCount}, 1 client`, kind: "large", concurrency: 1, count: singleCount, op: putLarge },
  { id: "put-large-N", label: `PUT ${largeSize / MiB} MiB × ${manyClients}, ${manyClients} clients`, kind: "large", concurrency: manyClients, count: manyClients, op: (t, i) => putLarge(t, singleCount + i) },
  { id: "get-large-1", label: `GET ${largeSize / MiB} MiB × ${singleCount}, 1 client`, kind: "large", concurrency: 1, count: singleCount, op: getLarge },
  { id: "get-large-N", label: `GET ${largeSize / MiB} MiB × ${manyClients}, ${manyClients} clients`, kind: "large", concurrency: manyClients, count: manyClients, op: (t, i) => getLarge(t, singleCount + i) },
  { id: "put-small", label: `PUT 4 KiB × ${smallOps}, ${smallConcurrency} clients`, kind: "small", concurrency: smallConcurrency, count: smallOps, op: putSmall },
  { id: "get-small", label: `GET 4 KiB × ${smallOps}, ${smallConcurrency} clients`, kind: "small", concurrency: smallConcurrency, count: smallOps, op: getSmall }
]
/** The memory check's two workloads for one body length, on object `object` (see hugeSize). */
const memoryWorkloads = (size: number, object: number, ids: readonly [WorkloadId, WorkloadId]): ReadonlyArray<Workload> => [
  { id: ids[0], label: `PUT ${size / MiB} MiB × 1, fresh server`, kind: "large", concurrency: 1, count: 1, op: (t) => putLarge(t, object, size), rssOverTime: true },
  { id: ids[1], label: `GET ${size / MiB} MiB × 1, fresh server`, kind: "large", concurrency: 1, count: 1, op: (t) => getLarge(t, object, size), rssOverTime: true }
]
const workloads = allWorkloads.filter((w) => onlyArg === undefined || onlyArg.has(w.id))
if (workloads.length === 0 && !memoryCheck) {
  console.error(`--only names no workload; known: ${allWorkloads.map((w) => w.id).join(", ")}, memory`)
  process.exit(1)
}

interface Row {
  readonly target: Target["name"]
  readonly workload: WorkloadId
  readonly label: string
  readonly kind: "large" | "small"
  readonly concurrency: number
  readonly ops: number
  readonly bytes: number
  readonly seconds: number
  readonly mbps: number
  readonly opsPerSecond: number
  readonly p50Ms: number | undefined
  readonly p99Ms: number | undefined
  readonly peakRssBytes: number | undefined
  readonly rssMethod: string
  /** The memory check's workloads: the server's VmRSS at 25, 50, 75 and 100% of the workload. */
  readonly rssAtQuarters?: ReadonlyArray<number>
  readonly serverCpuSeconds: number | undefined
  readonly clientCpuSeconds: number
  readonly ok: boolean
  readonly error?: string
}

/** Nearest-rank percentile of sorted values. */
const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? undefined : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]

const fmtMB = (b: number | undefined) => (b === undefined ? "?" : (b / 1e6).toFixed(1))
const fmtMs = (ms: number | undefined) => (ms === undefined ? "?" : ms >= 100 ? ms.toFixed(0) : ms.toFixed(1))
const rate = (r: Row) => (r.kind === "large" ? `${r.mbps.toFixed(0)} MB/s` : `${r.opsPerSecond.toFixed(0)} ops/s`)

/** `concurrency` clients take the operations 0..count-1 in turn; each operation is timed alone. */
const runWorkload = async (t: Target, w: Workload): Promise<Row> => {
  spawnSync("sync") // the previous workload's writeback is not charged to this one
  const stop = startMonitor(t.pid)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const latencies: Array<number> = []
  let next = 0
  let bytes = 0
  let error: string | undefined
  const client = async () => {
    while (error === undefined) {
      const i = next++
      if (i >= w.count) return
      const s = performance.now()
      try {
        const n = await w.op(t, i) // (not `bytes += await …`: that reads `bytes` before the await)
        bytes += n
      } catch (e) {
        const dead = t.alive()
        error ??= `${e instanceof Error ? e.message : String(e)}${dead !== undefined ? `; ${dead}` : ""}`
        return
      }
      latencies.push(performance.now() - s)
    }
  }
  await Promise.all(Array.from({ length: w.concurrency }, client))
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  const m = stop()
  latencies.sort((a, b) => a - b)
  const quarters = w.rssOverTime === true && m.samples.length >= 4
    ? [0.25, 0.5, 0.75, 1].map((f) => m.samples[Math.min(m.samples.length - 1, Math.floor(f * m.samples.length))]!)
    : undefined
  const row: Row = {
    target: t.name,
    workload: w.id,
    label: w.label,
    kind: w.kind,
    concurrency: w.concurrency,
    ops: latencies.length,
    bytes,
    seconds,
    mbps: bytes / 1e6 / seconds,
    opsPerSecond: latencies.length / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    peakRssBytes: m.peakRss,
    rssMethod: m.rssMethod,
    ...(quarters === undefined ? {} : { rssAtQuarters: quarters }),
    serverCpuSeconds: m.cpuSeconds,
    clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
    ok: error === undefined,
    ...(error === undefined ? {} : { error })
  }
  console.log(
    `  ${w.label.padEnd(30)} ${seconds.toFixed(2).padStart(7)} s ${rate(row).padStart(12)}  p50 ${fmtMs(row.p50Ms)} ms  p99 ${fmtMs(row.p99Ms)} ms  peak RSS ${fmtMB(row.peakRssBytes)} MB` +
      `  CPU: server ${row.serverCpuSeconds?.toFixed(1) ?? "?"} s, client ${row.clientCpuSeconds.toFixed(1)} s${row.ok ? "" : `  FAILED: ${error}`}`
  )
  if (quarters !== undefined) {
    console.log(`  ${" ".repeat(30)} server VmRSS at 25% of it: ${quarters.map((b, i) => `${i > 0 ? `${(i + 1) * 25}%: ` : ""}${fmtMB(b)} MB`).join(", ")}`)
  }
  return row
}

// ---------------------------------------------------------------------------------------------
// Servers

/** Unmeasured helper commands: fail loudly. */
const run = (cmd: string, args: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>> = {}): string => {
  const r = spawnSync(cmd, [...args], { env: { ...process.env, ...env }, encoding: "utf8", maxBuffer: 64 * MiB })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${(r.stderr || r.stdout).trim().slice(0, 2000)}`)
  return r.stdout
}

/** Waits (up to `ms`) until `pid` has exited, so its files can be removed. */
const waitGone = async (pid: number, ms = 15_000) => {
  const until = Date.now() + ms
  while (fs.existsSync(`/proc/${pid}`) && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
}

/**
 * `enigma proxy` on the Local repository under `dir` (made by `init` unless it exists); resolves
 * once it prints "listening on".
 */
const startGateway = async (bundle: string, dir: string, port: number) => {
  if (!fs.existsSync(path.join(dir, "enigma.toml"))) run(bundle, ["--config-dir", dir, "init"], { ENIGMA_PASSPHRASE: passphrase })
  const child: ChildProcess = spawn(bundle, ["--config-dir", dir, "proxy", "--listen", `127.0.0.1:${port}`], {
    env: {
      ...process.env,
      ENIGMA_PASSPHRASE: passphrase,
      ENIGMA_PROXY_ACCESS_KEY: gatewayKeys.accessKeyId,
      ENIGMA_PROXY_SECRET_KEY: gatewayKeys.secretAccessKey,
      ...(profileDir === undefined ? {} : { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${path.resolve(profileDir)}` })
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  // The last 16 KiB of its output, to explain a failure.
  let out = ""
  const onData = (d: Buffer) => {
    out = (out + d.toString()).slice(-16384)
  }
  child.stdout!.on("data", onData)
  child.stderr!.on("data", onData)
  let exited: string | undefined
  child.on("exit", (code, signal) => {
    exited = `the gateway exited (${signal ?? code}): ${out.trim().slice(-1500)}`
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the gateway did not start in 60 s: ${out}`)), 60_000)
    const check = () => {
      if (out.includes("listening on")) {
        clearTimeout(timer)
        child.stdout!.off("data", check)
        child.stderr!.off("data", check)
        resolve()
      }
    }
    child.stdout!.on("data", check)
    child.stderr!.on("data", check)
    child.once("exit", () => {
      clearTimeout(timer)
      reject(new Error(exited))
    })
  })
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const done = new Promise((r) => child.once("exit", r))
      child.kill("SIGTERM") // the gateway seals its log on SIGTERM
      await Promise.race([done, new Promise((r) => setTimeout(r, 30_000))])
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    }
    await waitGone(child.pid!)
  }
  return { pid: child.pid!, alive: () => exited, stop }
}

/** s3rver through the tests' spawnServer; its pid is found among this process's children. */
const startS3rver = async (dir: string, port: number) => {
  const script = path.join(repoRoot, "node_modules", "s3rver", "bin", "s3rver.js")
  const kill = await spawnServer(["--openssl-legacy-provider", script, "-d", dir, "-a", "127.0.0.1", "-p", String(port), "--silent"], "listening", "s3rver")
  const pid = descendants(process.pid).find((p) => {
    const c = cmdline(p)
    return c.includes(script) && c.includes(dir)
  })
  if (pid === undefined) {
    kill()
    throw new Error("s3rver started but its process was not found under /proc")
  }
  const alive = () => (fs.existsSync(`/proc/${pid}`) ? undefined : "s3rver has exited")
  const stop = async () => {
    kill()
    await waitGone(pid)
  }
  return { pid, alive, stop }
}

// ---------------------------------------------------------------------------------------------

const main = async () => {
  if (!fs.existsSync(enigmaCli)) {
    console.log(`${enigmaCli} missing: building it (node scripts/build.ts)…`)
    run(process.execPath, [path.join(repoRoot, "scripts", "build.ts")])
  }
  await checkSigner(gatewayKeys)
  fs.mkdirSync(resultsRoot, { recursive: true })
  fs.mkdirSync(dataRoot, { recursive: true })

  // The targets run one after the other, each removing its data when done, so the peak is one
  // target's objects (plus the copy of dist/). Refuse to start rather than fill the disk.
  const largeBytes = (singleCount + manyClients) * largeSize + (memoryCheck ? shortSize + hugeSize : 0)
  const needBytes = largeBytes * 1.05 + smallOps * 16 * 1024 + 128 * MiB
  const st = fs.statfsSync(dataRoot)
  const freeBytes = st.bavail * st.bsize
  if (freeBytes < needBytes + 512 * MiB) {
    console.error(
      `gateway benchmark not run: ${dataRoot} has ${(freeBytes / 2 ** 30).toFixed(2)} GiB free; it needs ~${(needBytes / 2 ** 30).toFixed(2)} GiB there and leaves 0.5 GiB ` +
        `for everything else. Free some space, or point --data-dir at another filesystem (tmpfs works, but then no disk is measured).`
    )
    process.exitCode = 1
    return
  }

  const work = fs.mkdtempSync(path.join(dataRoot, "gateway-"))
  let stopServer: (() => Promise<void>) | undefined
  const cleanup = async () => {
    await stopServer?.()
    stopServer = undefined
    fs.rmSync(work, { recursive: true, force: true })
  }
  process.on("SIGINT", () => {
    void cleanup().finally(() => process.exit(130))
  })

  try {
    // A snapshot of dist/: a rebuild during the run neither breaks nor changes what is measured.
    const checkout = revision()
    const bundle = snapshotDist(work)
    const tmpfs = spawnSync("stat", ["-f", "-c", "%T", dataRoot], { encoding: "utf8" }).stdout?.trim()

    console.log(`gateway benchmark${quick ? " (--quick)" : ""}: ${largeSize / MiB} MiB objects (1 and ${manyClients} clients), 4 KiB × ${smallOps} at concurrency ${smallConcurrency}`)
    console.log(`  machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`)
    console.log(`  enigma ${checkout} (copy of dist/ run with node ${process.version}); repository defaults from init (Local provider, CDC 4 MiB)`)
    console.log(`  data under ${work} (${tmpfs ?? "?"} filesystem); results to ${resultsFile}`)
    console.log("  client: node:http with a keep-alive agent (large GETs: a plain socket), SigV4 UNSIGNED-PAYLOAD (checked against @smithy/signature-v4);")
    console.log("  every GET checked byte for byte; peak RSS of the server process per workload")
    console.log()

    const rows: Array<Row> = []
    const runTarget = async (t: Target) => {
      const create = await request(t, "PUT", `/${bucket}`, { length: 0 })
      expectStatus("PUT", `/${bucket}`, create)
      try {
        for (const w of workloads) rows.push(await runWorkload(t, w))
      } finally {
        t.agent.destroy()
      }
    }

    // 1. The gateway, on a Local provider (init's default: DIR/storage).
    {
      const port = await freePort()
      const dir = path.join(work, "repo")
      const g = await startGateway(bundle, dir, port)
      stopServer = g.stop
      console.log(`enigma proxy (http://127.0.0.1:${port}, pid ${g.pid}, Local provider under ${path.join(dir, "storage")}):`)
      await runTarget(makeTarget("gateway", port, g.pid, gatewayKeys, g.alive))
      await g.stop()
      stopServer = undefined
      if (memoryCheck) {
        // Each length on a server of its own, started afresh on the same repository (and bucket).
        const lengths = [[shortSize, 900, ["put-short", "get-short"]], [hugeSize, 901, ["put-huge", "get-huge"]]] as const
        for (const [size, object, ids] of lengths) {
          const m = await startGateway(bundle, dir, port)
          stopServer = m.stop
          console.log(`memory check: a fresh enigma proxy (pid ${m.pid}), ${size / MiB} MiB:`)
          const t = makeTarget("gateway", port, m.pid, gatewayKeys, m.alive)
          try {
            for (const w of memoryWorkloads(size, object, ids)) rows.push(await runWorkload(t, w))
          } finally {
            t.agent.destroy()
          }
          await m.stop()
          stopServer = undefined
        }
      }
      fs.rmSync(dir, { recursive: true, force: true })
    }
    console.log()

    // 2. s3rver, plain (no encryption), same workloads.
    if (withS3rver) {
      const port = await freePort()
      const dir = path.join(work, "s3rver")
      fs.mkdirSync(dir)
      const s = await startS3rver(dir, port)
      stopServer = s.stop
      console.log(`s3rver (http://127.0.0.1:${port}, pid ${s.pid}):`)
      await runTarget(makeTarget("s3rver", port, s.pid, s3rverKeys, s.alive))
      await s.stop()
      stopServer = undefined
      fs.rmSync(dir, { recursive: true, force: true })
    }
    console.log()

    // -------------------------------------------------------------------------------------------
    // Table and targets

    const header = ["target", "workload", "ops", "seconds", "MB/s", "ops/s", "p50 ms", "p99 ms", "peak RSS MB", "server CPU s", "client CPU s", ""]
    const table = rows.map((r) => [
      r.target,
      r.label,
      String(r.ops),
      r.seconds.toFixed(2),
      r.mbps.toFixed(r.kind === "large" ? 0 : 1),
      r.opsPerSecond.toFixed(r.kind === "large" ? 2 : 0),
      fmtMs(r.p50Ms),
      fmtMs(r.p99Ms),
      fmtMB(r.peakRssBytes),
      r.serverCpuSeconds?.toFixed(1) ?? "?",
      r.clientCpuSeconds.toFixed(1),
      r.ok ? "" : "FAILED"
    ])
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)))
    const line = (cells: Array<string>) => cells.map((c, i) => (i >= 2 && i <= 10 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd()
    console.log(line(header))
    console.log(widths.map((w) => "-".repeat(w)).join("  ").trimEnd())
    for (const row of table) console.log(line(row))
    console.log()
    console.log("MB/s in 10⁶ bytes per wall second of the workload; latency per request (signing, request, whole response);")
    console.log("peak RSS of the server process over the workload; CPU s: user+system seconds of the server and of this client.")
    for (const r of rows.filter((x) => !x.ok)) console.log(`FAILED ${r.target} ${r.label}: ${r.error}`)

    const find = (target: Target["name"], id: WorkloadId) => rows.find((r) => r.target === target && r.workload === id)
    const targets: Array<{ target: string; status: "PASS" | "MISS" | "SKIP"; detail: string }> = []
    const absolute = (id: WorkloadId, min: number, unit: "MB/s" | "ops/s") => {
      const g = find("gateway", id)
      const label = `gateway ${g?.label ?? id} ≥ ${min.toLocaleString("en")} ${unit}`
      if (g === undefined) return targets.push({ target: label, status: "SKIP", detail: "not run" })
      if (!g.ok) return targets.push({ target: label, status: "MISS", detail: `failed: ${g.error}` })
      const v = unit === "MB/s" ? g.mbps : g.opsPerSecond
      targets.push({ target: label, status: v >= min ? "PASS" : "MISS", detail: `${v.toFixed(0)} ${unit}` })
    }
    absolute("put-large-1", largePutTarget, "MB/s")
    absolute("put-large-N", largePutTarget, "MB/s")
    absolute("get-large-1", largeGetTarget, "MB/s")
    absolute("get-large-N", largeGetTarget, "MB/s")
    absolute("put-small", smallPutTarget, "ops/s")
    /** The long body's peak RSS against the short one's, each on a fresh server (the memory check). */
    const bounded = (verb: "PUT" | "GET", long: WorkloadId, short: WorkloadId) => {
      const l = find("gateway", long)
      const b = find("gateway", short)
      const label = `gateway memory bounded: a ${verb} of ${hugeSize / MiB} MiB peaks within ×${hugeRssGrowth} of one of ${shortSize / MiB} MiB`
      if (l === undefined || b === undefined) return targets.push({ target: label, status: "SKIP", detail: "not run (--no-memory-check or --only)" })
      if (!l.ok || !b.ok) return targets.push({ target: label, status: "MISS", detail: `failed: ${l.error ?? b.error}` })
      if (b.peakRssBytes === undefined || l.peakRssBytes === undefined) return targets.push({ target: label, status: "SKIP", detail: "no RSS measured" })
      const growth = l.peakRssBytes / b.peakRssBytes
      targets.push({ target: label, status: growth <= hugeRssGrowth ? "PASS" : "MISS", detail: `${fmtMB(l.peakRssBytes)} MB vs ${fmtMB(b.peakRssBytes)} MB (×${growth.toFixed(2)})` })
    }
    bounded("PUT", "put-huge", "put-short")
    bounded("GET", "get-huge", "get-short")
    for (const w of workloads) {
      const g = find("gateway", w.id)
      const s = find("s3rver", w.id)
      const label = `gateway faster than s3rver: ${w.label}`
      if (g === undefined) targets.push({ target: label, status: "SKIP", detail: "not run" })
      else if (!g.ok) targets.push({ target: label, status: "MISS", detail: "the gateway failed" })
      else if (!s?.ok) targets.push({ target: label, status: "SKIP", detail: s ? `s3rver failed: ${s.error}` : "s3rver not run" })
      else targets.push({ target: label, status: (w.kind === "large" ? g.mbps > s.mbps : g.opsPerSecond > s.opsPerSecond) ? "PASS" : "MISS", detail: `${rate(g)} vs ${rate(s)} (×${(w.kind === "large" ? g.mbps / s.mbps : g.opsPerSecond / s.opsPerSecond).toFixed(2)})` })
    }
    console.log()
    console.log("targets (issue 4):")
    for (const t of targets) console.log(`  ${t.status.padEnd(4)}  ${t.target}: ${t.detail}`)

    const notes = [
      "Client, gateway and s3rver share the machine's cores: each figure is bounded by the other processes' CPU as well (client CPU s shows the client's share).",
      `Large objects: ${blockSize / 1024} KiB views of a ${poolSize / MiB} MiB random pool at per-object offsets (nothing to deduplicate across objects); GETs compared byte for byte.`
    ]
    if (tmpfs === "tmpfs") notes.push(`The data was on tmpfs (${dataRoot}): no disk I/O was measured.`)
    for (const n of notes) console.log(`note: ${n}`)

    fs.writeFileSync(resultsFile, `${JSON.stringify({
      date: new Date().toISOString(),
      quick,
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memBytes: os.totalmem(), node: process.version, loadavg: os.loadavg() },
      checkout,
      dataRoot,
      filesystem: tmpfs,
      largeSize,
      singleCount,
      manyClients,
      smallSize,
      smallOps,
      smallConcurrency,
      rows,
      notes,
      targets
    }, null, 2)}\n`)
    console.log(`\nresults written to ${path.relative(process.cwd(), resultsFile) || resultsFile}`)
    if (rows.some((r) => !r.ok)) process.exitCode = 1
  } finally {
    await cleanup()
  }
}

await main()
