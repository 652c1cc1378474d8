/**
 * Pipe-mode benchmark (issue 5): `… | enigma put NAME` and `enigma get NAME > /dev/null`, to a Local
 * provider and to s3rver, against aws-cli's plain (unencrypted) `aws s3 cp - s3://…` and
 * `aws s3 cp s3://… -` to the same s3rver, in one run; then a longer `put` to show that peak RSS
 * does not grow with the stream's length.
 *
 *   node bench/pipe.ts            # or: npm run bench:pipe — 1 GiB streams, then a 4 GiB put
 *   node bench/pipe.ts --quick    # 256 MiB streams, then a 1 GiB put
 *
 * Each command is one process timed by GNU time (`%e %M`: wall seconds and peak RSS of that
 * process alone, not of the producer feeding it), or, without GNU time, by polling
 * /proc/<pid>/status. MB/s = stream bytes / the process's wall time (start-up and key unsealing
 * included); enigma's own `durationMs` (from `--summary json`) is shown beside it.
 *
 * Plain Node 24 (type stripping): no enums, namespaces or parameter properties.
 */
import { spawn, spawnSync } from "node:child_process"
import { randomFillSync } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { CreateBucketCommand, HeadObjectCommand, S3Client } from "@aws-sdk/client-s3"
import { freePort, spawnServer } from "../test/support/server.ts"
import { type CpuRates, describeCpuRates, measureCpuRates } from "./_cpu.ts"
import { enigmaCli, repoRoot, revision, snapshotDist } from "./_dist.ts"
import { descendants, procArgs, procStatus } from "./_proc.ts"

// ---------------------------------------------------------------------------------------------
// Options and constants

const quick = process.argv.includes("--quick")
const MiB = 1024 * 1024
/** The stream measured against every target: 1 GiB (--quick: 256 MiB). */
const size = (quick ? 256 : 1024) * MiB
/** The longer put of the memory check: 4 GiB (--quick: 1 GiB). */
const longSize = 4 * size
const dataRoot = path.join(repoRoot, ".bench-data")
const resultsFile = path.join(dataRoot, "pipe-results.json")
/** The issue's targets. RSS read as decimal megabytes (the stricter reading: 244 MiB). */
const putLocalTarget = 400 // MB/s
const rssLimitBytes = 256e6
const passphrase = "bench"

const gnuTime = (() => {
  const p = "/usr/bin/time"
  if (!fs.existsSync(p)) return undefined
  const r = spawnSync(p, ["--version"], { encoding: "utf8" })
  return `${r.stdout}${r.stderr}`.includes("GNU") ? p : undefined
})()

/** Single-quoted for bash. */
const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`

// ---------------------------------------------------------------------------------------------
// aws-cli: the first `aws` that answers --version (the pyenv shim first: Debian's /usr/bin/aws may
// be missing, and PATH may hold others). s3rver's keys, no CA bundle, no user config.

const findAws = (): { bin: string; version: string } | { error: string } => {
  const candidates = ["/root/.pyenv/shims/aws", ...(process.env.PATH ?? "").split(path.delimiter).map((d) => path.join(d, "aws")), "/usr/bin/aws"]
  const tried: Array<string> = []
  for (const bin of [...new Set(candidates)]) {
    if (!fs.existsSync(bin)) continue
    const r = spawnSync(bin, ["--version"], { encoding: "utf8", timeout: 30_000 })
    const version = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim().split("\n")[0] ?? ""
    if (r.status === 0 && version.startsWith("aws-cli/")) return { bin, version }
    tried.push(`${bin} (${r.error?.message ?? `exit ${r.status}: ${version}`})`)
  }
  return { error: tried.length === 0 ? "no aws on PATH nor at /root/.pyenv/shims/aws or /usr/bin/aws" : `none worked: ${tried.join("; ")}` }
}

// ---------------------------------------------------------------------------------------------
// Measuring one process of a shell pipeline

interface Measured {
  readonly seconds: number
  readonly rssBytes: number | undefined
  readonly code: number
  readonly stderr: string
  /** VmRSS of the measured process, sampled every 250 ms: [seconds since start, bytes]. */
  readonly samples: ReadonlyArray<readonly [number, number]>
}

/**
 * Whether `pid` is the measured command: its command line holds `marker` and it is not one of the
 * wrappers around it (the shell and its forks, GNU time, the pyenv shim's bash and env). Asked
 * again at every sample, since a wrapper's pid becomes the command's when it execs.
 */
const isCommand = (pid: number, marker: string) => {
  const args = procArgs(pid)
  if (args.length === 0) return false
  const exe = path.basename(args[0] ?? "")
  return !["bash", "sh", "env", "time"].includes(exe) && args.join(" ").includes(marker)
}

let timeOutFile = ""

/**
 * Runs `bash -c "<producer> | <command> > <stdout>"` and measures `command` alone: GNU time wraps
 * it (its `-o` file keeps the figures apart from the command's stderr); the process itself is
 * found among the shell's descendants by `marker` in its command line and its VmRSS sampled, for
 * the curve over time (and for the peak when GNU time is missing). `sync` first, unmeasured.
 */
const measure = (o: {
  readonly producer?: string
  readonly command: ReadonlyArray<string>
  readonly stdout?: string
  readonly env: Readonly<Record<string, string | undefined>>
  readonly marker: string
}): Promise<Measured> => {
  spawnSync("sync")
  const timed = gnuTime ? [gnuTime, "-f", "%e %M", "-o", timeOutFile, ...o.command] : [...o.command]
  const script = `${o.producer ? `${o.producer} | ` : ""}exec ${timed.map(q).join(" ")}${o.stdout ? ` > ${q(o.stdout)}` : ""}`
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries({ ...process.env, ...o.env })) if (v !== undefined) env[k] = v
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn("bash", ["-c", script], { env, stdio: ["ignore", "ignore", "pipe"] })
    const err: Array<Buffer> = []
    child.stderr.on("data", (b: Buffer) => err.push(b))
    let hwm: number | undefined
    const samples: Array<readonly [number, number]> = []
    const poll = setInterval(() => {
      const target = descendants(child.pid!).find((p) => isCommand(p, o.marker))
      if (target === undefined) return
      const rss = procStatus(target, "VmRSS")
      const h = procStatus(target, "VmHWM")
      if (h !== undefined) hwm = Math.max(hwm ?? 0, h)
      if (rss !== undefined) samples.push([(performance.now() - t0) / 1000, rss])
    }, 250)
    child.on("error", reject)
    child.on("close", (code, signal) => {
      const wall = (performance.now() - t0) / 1000
      clearInterval(poll)
      let seconds = wall
      let rssBytes = hwm
      if (gnuTime) {
        // On failure GNU time writes "Command exited with non-zero status N" before the format line.
        const last = fs.readFileSync(timeOutFile, "utf8").trim().split("\n").pop() ?? ""
        const m = /^([\d.]+) (\d+)$/.exec(last)
        if (m) {
          seconds = Number(m[1])
          rssBytes = Number(m[2]) * 1024
        }
      }
      resolve({ seconds, rssBytes, code: code ?? (signal ? 128 : 1), stderr: Buffer.concat(err).toString("utf8"), samples })
    })
  })
}

/** Unmeasured helper commands: fail loudly. */
const run = (cmd: string, args: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>> = {}): string => {
  const r = spawnSync(cmd, [...args], { env: { ...process.env, ...env }, encoding: "utf8", maxBuffer: 64 * MiB })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${(r.stderr || r.stdout).trim().slice(0, 2000)}`)
  return r.stdout
}

/** The last JSON line on stderr: `--summary json`. */
const summaryOf = (stderr: string): Record<string, unknown> | undefined => {
  const line = stderr.trim().split("\n").reverse().find((l) => l.startsWith("{"))
  try {
    return line === undefined ? undefined : JSON.parse(line)
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// Results

interface Row {
  readonly label: string
  readonly tool: "enigma" | "aws-cli"
  readonly where: "Local" | "s3rver"
  readonly op: "put" | "get"
  readonly bytes: number
  readonly seconds: number
  readonly mbps: number
  /** From enigma's own `durationMs`: the stream itself, without start-up and key unsealing. */
  readonly streamMbps: number | undefined
  readonly rssBytes: number | undefined
  readonly ok: boolean
  readonly error?: string
  readonly samples: ReadonlyArray<readonly [number, number]>
}

const rows: Array<Row> = []
const fmtMB = (b: number | undefined) => (b === undefined ? "?" : (b / 1e6).toFixed(1))

const record = (label: string, tool: Row["tool"], where: Row["where"], op: Row["op"], bytes: number, m: Measured, check: () => string | undefined): Row => {
  const summary = tool === "enigma" ? summaryOf(m.stderr) : undefined
  const durationMs = typeof summary?.durationMs === "number" ? summary.durationMs : undefined
  let error: string | undefined = m.code === 0 ? undefined : `exit ${m.code}: ${m.stderr.trim().slice(-1500)}`
  if (error === undefined && tool === "enigma" && summary?.bytes !== bytes) error = `summary says ${String(summary?.bytes)} bytes, expected ${bytes}: ${m.stderr.trim().slice(-500)}`
  if (error === undefined) error = check()
  const row: Row = {
    label,
    tool,
    where,
    op,
    bytes,
    seconds: m.seconds,
    mbps: bytes / 1e6 / m.seconds,
    streamMbps: durationMs === undefined ? undefined : bytes / 1e6 / (durationMs / 1000),
    rssBytes: m.rssBytes,
    ok: error === undefined,
    ...(error === undefined ? {} : { error }),
    samples: m.samples
  }
  rows.push(row)
  const stream = row.streamMbps === undefined ? "" : ` (stream ${row.streamMbps.toFixed(0)} MB/s)`
  console.log(`  ${label.padEnd(34)} ${m.seconds.toFixed(2).padStart(7)} s ${row.mbps.toFixed(0).padStart(5)} MB/s${stream}  peak RSS ${fmtMB(row.rssBytes)} MB${row.ok ? "" : `  FAILED ${error}`}`)
  return row
}

/** VmRSS at each quarter of a run, from the samples: shows whether memory grows with the stream. */
const rssCurve = (samples: ReadonlyArray<readonly [number, number]>): string => {
  if (samples.length === 0) return "no samples"
  const end = samples[samples.length - 1]![0]
  return [0.25, 0.5, 0.75, 1].map((f) => {
    const s = samples.find(([t]) => t >= f * end) ?? samples[samples.length - 1]!
    return `${(f * 100).toFixed(0)}%: ${fmtMB(s[1])} MB`
  }).join(", ")
}

// ---------------------------------------------------------------------------------------------

const main = async () => {
  if (!fs.existsSync(enigmaCli)) {
    console.log(`${enigmaCli} missing: building it (node scripts/build.ts)…`)
    run(process.execPath, [path.join(repoRoot, "scripts", "build.ts")])
  }
  fs.mkdirSync(dataRoot, { recursive: true })
  const work = fs.mkdtempSync(path.join(dataRoot, "pipe-"))
  timeOutFile = path.join(work, "time.out")
  let stopS3rver: (() => void) | undefined
  const cleanup = () => {
    stopS3rver?.()
    fs.rmSync(work, { recursive: true, force: true })
  }
  process.on("SIGINT", () => {
    cleanup()
    process.exit(130)
  })

  try {
    // A snapshot of dist/: a rebuild during the run neither breaks nor changes what is measured.
    const checkout = revision()
    const bundle = snapshotDist(work)
    const enigma = (dir: string, ...args: Array<string>) => [bundle, "--config-dir", dir, ...args]
    const enigmaEnv = { ENIGMA_PASSPHRASE: passphrase }

    const aws = findAws()
    const awsHome = path.join(work, "aws-home")
    fs.mkdirSync(awsHome)

    console.log(`pipe benchmark${quick ? " (--quick)" : ""}: ${size / MiB} MiB streams, memory check with a ${longSize / MiB} MiB put`)
    console.log(`  machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`)
    console.log(`  enigma ${checkout} (copy of dist/ run with node ${process.version}); repository defaults from init (CDC 4 MiB, compression off, upload_concurrency 4)`)
    console.log(`  ${"version" in aws ? `${aws.version} (${aws.bin}), default transfer settings (8 MB parts, 10 threads)` : `aws-cli: not usable here: ${aws.error}`}`)
    console.log(`  timing and peak RSS: ${gnuTime ? "GNU time %e %M of the measured process alone" : "wall clock; peak RSS polled from /proc/<pid>/status VmHWM (install `time` for GNU time)"}; \`sync\` before each command`)
    // The machine's speed now and at the end: the put target reads against it (bench/_cpu.ts).
    const cpuBefore = measureCpuRates()
    console.log(`  ${describeCpuRates(cpuBefore)}`)

    // The input: random bytes, generated once into a file and fed through a pipe (`cat file |`),
    // so the put reads a pipe as in real use but /dev/urandom's speed is not what is measured.
    const input = path.join(work, "random.bin")
    {
      const fd = fs.openSync(input, "w")
      const block = Buffer.allocUnsafe(16 * MiB)
      for (let done = 0; done < size; done += block.length) fs.writeSync(fd, randomFillSync(block), 0, Math.min(block.length, size - done))
      fs.closeSync(fd)
    }
    const cat = `cat ${q(input)}`
    const urandom = await measure({ command: ["head", "-c", String(size), "/dev/urandom"], stdout: "/dev/null", env: {}, marker: "/dev/urandom" })
    const catRate = await measure({ command: ["cat", input], stdout: "/dev/null", env: {}, marker: input }) // also warms the page cache
    console.log(`  input: ${input} (${size / MiB} MiB random, page cache warm); for scale: head -c /dev/urandom alone ${(size / 1e6 / urandom.seconds).toFixed(0)} MB/s, cat of the file ${(size / 1e6 / catRate.seconds).toFixed(0)} MB/s`)
    console.log()

    // 1. Local provider (init's default: DIR/storage)
    console.log("Local provider:")
    const localRepo = path.join(work, "local")
    run(bundle, ["--config-dir", localRepo, "init"], enigmaEnv)
    record("enigma put → Local", "enigma", "Local", "put", size,
      await measure({ producer: cat, command: enigma(localRepo, "put", "bench", "--summary", "json"), env: enigmaEnv, marker: bundle }), () => undefined)
    record("enigma get ← Local > /dev/null", "enigma", "Local", "get", size,
      await measure({ command: enigma(localRepo, "get", "bench", "--summary", "json"), stdout: "/dev/null", env: enigmaEnv, marker: bundle }), () => undefined)
    fs.rmSync(localRepo, { recursive: true, force: true })

    // 2. s3rver: one server for enigma and aws-cli, its data beside the rest of the run.
    const port = await freePort()
    const endpoint = `http://127.0.0.1:${port}`
    const s3dir = path.join(work, "s3rver")
    fs.mkdirSync(s3dir)
    stopS3rver = await spawnServer(
      ["--openssl-legacy-provider", path.join(repoRoot, "node_modules", "s3rver", "bin", "s3rver.js"), "-d", s3dir, "-a", "127.0.0.1", "-p", String(port), "--silent"],
      "listening",
      "s3rver"
    )
    const s3 = new S3Client({
      endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" }
    })
    await s3.send(new CreateBucketCommand({ Bucket: "enigma" }))
    await s3.send(new CreateBucketCommand({ Bucket: "plain" }))

    console.log(`s3rver (${endpoint}):`)
    const s3Repo = path.join(work, "s3repo")
    fs.mkdirSync(s3Repo)
    fs.writeFileSync(path.join(s3Repo, "enigma.toml"), [
      "[[providers]]",
      'name = "s3"',
      'type = "S3Compatible"',
      'bucket = "enigma"',
      `endpoint_url = "${endpoint}"`,
      'access_key = "S3RVER"',
      'secret_key = "S3RVER"',
      ""
    ].join("\n"))
    run(bundle, ["--config-dir", s3Repo, "init"], enigmaEnv)
    record("enigma put → s3rver", "enigma", "s3rver", "put", size,
      await measure({ producer: cat, command: enigma(s3Repo, "put", "bench", "--summary", "json"), env: enigmaEnv, marker: bundle }), () => undefined)
    record("enigma get ← s3rver > /dev/null", "enigma", "s3rver", "get", size,
      await measure({ command: enigma(s3Repo, "get", "bench", "--summary", "json"), stdout: "/dev/null", env: enigmaEnv, marker: bundle }), () => undefined)

    // 3. aws-cli baseline: plain objects, no encryption, same server.
    let awsNote: string | undefined
    if ("version" in aws) {
      const awsEnv = {
        AWS_ACCESS_KEY_ID: "S3RVER",
        AWS_SECRET_ACCESS_KEY: "S3RVER",
        AWS_DEFAULT_REGION: "us-east-1",
        AWS_CA_BUNDLE: undefined,
        AWS_CONFIG_FILE: path.join(awsHome, "config"),
        AWS_SHARED_CREDENTIALS_FILE: path.join(awsHome, "credentials"),
        AWS_PAGER: ""
      }
      const key = "s3://plain/bench.bin"
      const sizeOnServer = async () => {
        try {
          return (await s3.send(new HeadObjectCommand({ Bucket: "plain", Key: "bench.bin" }))).ContentLength
        } catch {
          return undefined
        }
      }
      const put = await measure({ producer: cat, command: [aws.bin, "--endpoint-url", endpoint, "s3", "cp", "-", key], env: awsEnv, marker: " s3 cp " })
      const stored = await sizeOnServer()
      record("aws s3 cp - (plain) → s3rver", "aws-cli", "s3rver", "put", size, put, () => (stored === size ? undefined : `object is ${stored} bytes on the server`))
      if (stored === size) {
        record("aws s3 cp … - ← s3rver > /dev/null", "aws-cli", "s3rver", "get", size,
          await measure({ command: [aws.bin, "--endpoint-url", endpoint, "s3", "cp", key, "-"], stdout: "/dev/null", env: awsEnv, marker: " s3 cp " }), () => undefined)
      }
    } else {
      awsNote = `aws-cli baseline not run: ${aws.error}`
      console.log(`  ${awsNote}`)
    }
    stopS3rver()
    stopS3rver = undefined
    fs.rmSync(s3dir, { recursive: true, force: true })
    fs.rmSync(s3Repo, { recursive: true, force: true })
    console.log()

    // 4. Memory: a put 4× longer, to Local, from a generator (openssl AES-CTR keystream: fast,
    //    not deduplicable, nothing written to disk first).
    console.log(`memory check: a ${longSize / MiB} MiB put to Local:`)
    const longRepo = path.join(work, "long")
    run(bundle, ["--config-dir", longRepo, "init"], enigmaEnv)
    const generator = `openssl enc -aes-256-ctr -pbkdf2 -nosalt -pass pass:enigma-bench -in /dev/zero 2>/dev/null | head -c ${longSize}`
    const long = record(`enigma put → Local (${longSize / MiB} MiB)`, "enigma", "Local", "put", longSize,
      await measure({ producer: generator, command: enigma(longRepo, "put", "long", "--summary", "json"), env: enigmaEnv, marker: bundle }), () => undefined)
    fs.rmSync(longRepo, { recursive: true, force: true })
    const shortPut = rows.find((r) => r.tool === "enigma" && r.where === "Local" && r.op === "put" && r.bytes === size)
    console.log(`  VmRSS over the ${longSize / MiB} MiB put: ${rssCurve(long.samples)}`)
    if (shortPut) console.log(`  VmRSS over the ${size / MiB} MiB put:  ${rssCurve(shortPut.samples)}`)
    console.log()

    // ---------------------------------------------------------------------------------------
    // Table and targets

    const header = ["command", "stream", "seconds", "MB/s", "stream MB/s", "peak RSS MB", "target", "met"]
    const targetOf = (r: Row): Array<[string, boolean | undefined]> => {
      const t: Array<[string, boolean | undefined]> = []
      if (r.tool === "enigma" && r.where === "Local" && r.op === "put" && r.bytes === size) t.push([`≥ ${putLocalTarget} MB/s`, r.ok && r.mbps >= putLocalTarget])
      if (r.tool === "enigma") t.push([`RSS ≤ ${rssLimitBytes / 1e6} MB`, r.rssBytes === undefined ? undefined : r.ok && r.rssBytes <= rssLimitBytes])
      return t
    }
    const table = rows.map((r) => {
      const t = targetOf(r)
      return [
        r.label,
        `${r.bytes / MiB} MiB`,
        r.seconds.toFixed(2),
        r.mbps.toFixed(0),
        r.streamMbps === undefined ? "-" : r.streamMbps.toFixed(0),
        fmtMB(r.rssBytes),
        t.length === 0 ? "(baseline)" : t.map(([s]) => s).join(", "),
        r.ok ? t.map(([, m]) => (m === undefined ? "?" : m ? "yes" : "NO")).join(", ") : "FAILED"
      ]
    })
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)))
    const line = (cells: Array<string>) => cells.map((c, i) => (i >= 2 && i <= 5 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd()
    console.log(line(header))
    console.log(widths.map((w) => "-".repeat(w)).join("  "))
    for (const row of table) console.log(line(row))
    console.log()
    console.log("MB/s: stream bytes (10⁶) / wall seconds of the measured process (start-up, Argon2id unsealing and closing included);")
    console.log("stream MB/s: the same bytes / enigma's own durationMs (from --summary json). RSS in 10⁶ bytes.")

    const find = (tool: Row["tool"], where: Row["where"], op: Row["op"]) => rows.find((r) => r.tool === tool && r.where === where && r.op === op && r.bytes === size && r.ok)
    const notes: Array<string> = []
    for (const op of ["put", "get"] as const) {
      const e = find("enigma", "s3rver", op)
      const a = find("aws-cli", "s3rver", op)
      if (e && a) notes.push(`${op} to s3rver: enigma (encrypted, chunked, verified) ${e.mbps.toFixed(0)} MB/s vs aws-cli (plain) ${a.mbps.toFixed(0)} MB/s: ${(e.mbps / a.mbps).toFixed(2)}×; peak RSS ${fmtMB(e.rssBytes)} vs ${fmtMB(a.rssBytes)} MB`)
    }
    if (awsNote) notes.push(awsNote)
    notes.push("s3rver is a Node process on the same cores: the s3rver figures are bounded by it as much as by the client.")
    console.log()
    for (const n of notes) console.log(`note: ${n}`)

    const cpuAfter = measureCpuRates()
    console.log(`note: at the start, ${describeCpuRates(cpuBefore)}`)
    console.log(`note: at the end, ${describeCpuRates(cpuAfter)}`)
    const ceiling = (r: CpuRates) => r.digestCeilingMBps.toFixed(0)

    const targets: Array<{ target: string; status: "PASS" | "MISS" | "SKIP"; detail: string }> = []
    const localPut = find("enigma", "Local", "put")
    targets.push(localPut
      ? { target: `put to Local ≥ ${putLocalTarget} MB/s`, status: localPut.mbps >= putLocalTarget ? "PASS" : "MISS", detail: `${localPut.mbps.toFixed(0)} MB/s (stream alone ${localPut.streamMbps?.toFixed(0) ?? "?"} MB/s; its two digests alone cap it at ${ceiling(cpuBefore)} MB/s on this machine at the start, ${ceiling(cpuAfter)} at the end)` }
      : { target: `put to Local ≥ ${putLocalTarget} MB/s`, status: "MISS", detail: "the put failed" })
    const enigmaRows = rows.filter((r) => r.tool === "enigma")
    const measured = enigmaRows.filter((r) => r.rssBytes !== undefined)
    if (measured.length === 0) {
      targets.push({ target: `peak RSS of every enigma put/get ≤ ${rssLimitBytes / 1e6} MB`, status: "SKIP", detail: "no RSS measured" })
    } else {
      const worst = measured.reduce((a, b) => (b.rssBytes! > a.rssBytes! ? b : a))
      const allOk = enigmaRows.every((r) => r.ok)
      targets.push({
        target: `peak RSS of every enigma put/get ≤ ${rssLimitBytes / 1e6} MB (${(rssLimitBytes / MiB).toFixed(0)} MiB)`,
        status: allOk && worst.rssBytes! <= rssLimitBytes ? "PASS" : "MISS",
        detail: `worst ${fmtMB(worst.rssBytes)} MB in "${worst.label}"${allOk ? "" : "; some enigma command failed"}`
      })
    }
    if (shortPut?.rssBytes !== undefined && long.rssBytes !== undefined && long.ok) {
      const growth = long.rssBytes / shortPut.rssBytes
      targets.push({
        target: "put's peak RSS does not grow with the stream's length",
        status: growth <= 1.15 && long.rssBytes <= rssLimitBytes ? "PASS" : "MISS",
        detail: `${fmtMB(shortPut.rssBytes)} MB for ${size / MiB} MiB, ${fmtMB(long.rssBytes)} MB for ${longSize / MiB} MiB (×${growth.toFixed(2)}; PASS if ≤ ×1.15 and ≤ ${rssLimitBytes / 1e6} MB)`
      })
    }
    console.log()
    console.log("targets:")
    for (const t of targets) console.log(`  ${t.status.padEnd(4)}  ${t.target}: ${t.detail}`)

    fs.writeFileSync(resultsFile, `${JSON.stringify({
      date: new Date().toISOString(),
      quick,
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memBytes: os.totalmem(), node: process.version, loadavg: os.loadavg(), cpuBefore, cpuAfter },
      checkout,
      aws: "version" in aws ? aws : { error: aws.error },
      rss: gnuTime ? "GNU time %M" : "/proc VmHWM polling",
      size,
      longSize,
      rows,
      notes,
      targets
    }, null, 2)}\n`)
    console.log(`\nresults written to ${path.relative(process.cwd(), resultsFile) || resultsFile}`)
  } finally {
    cleanup()
  }
}

await main()
