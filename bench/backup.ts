/**
 * Backup benchmark: enigma against restic and borg (when installed) on two generated data sets.
 *
 *   node bench/backup.ts                          # everything (1 GiB random + ~280 MB of small files)
 *   node bench/backup.ts --quick                  # 1/8 of the data, for a fast check
 *   node bench/backup.ts --sets small --tools enigma,borg
 *
 * For each data set and tool: a fresh repository, then the first backup, an unchanged re-backup
 * and a full restore into an empty directory, each timed (wall clock) with its peak RSS. The small
 * set is also packed and unpacked with `tar` as the file-creation floor for restore. Where this
 * process may drop the kernel's page cache (root: /proc/sys/vm/drop_caches), each restore and
 * `tar x` runs a second time from a cold cache, as a restore after a disaster does. The table,
 * the issue's targets (PASS/MISS) and a JSON copy (.bench-data/backup-results.json) come last.
 *
 * Plain Node 24 (type stripping): no enums, namespaces or parameter properties.
 */
import { spawn, spawnSync } from "node:child_process"
import { randomFillSync } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { parseArgs } from "node:util"
import { describeCpuRates, measureCpuRates } from "./_cpu.ts"
import { enigmaCli, repoRoot, revision, snapshotDist } from "./_dist.ts"
import { procStatus } from "./_proc.ts"

// ---------------------------------------------------------------------------------------------
// Options and constants

type SetName = "random" | "small" | "tree"
type ToolName = "enigma" | "restic" | "borg"
type Phase = "first backup" | "re-backup" | "restore" | "restore (cold)" | "tar c" | "tar x" | "tar x (cold)"

/** The issue's two sets, run by default; `tree` (memory on a huge tree) only when asked for. */
const allSets: ReadonlyArray<SetName> = ["random", "small"]
const knownSets: ReadonlyArray<SetName> = [...allSets, "tree"]
const allTools: ReadonlyArray<ToolName> = ["enigma", "restic", "borg"]

const KiB = 1024
const MiB = 1024 * KiB
const dataRoot = path.join(repoRoot, ".bench-data")
/** The issue's sets' results, or (`--sets tree` alone) the tree's, kept apart. */
const resultsFileFor = (sets: ReadonlyArray<SetName>) =>
  path.join(dataRoot, sets.every((s) => s === "tree") ? "tree-results.json" : "backup-results.json")
const installHint = "apt-get install restic borgbackup time"
/** The issue's memory ceiling, read as decimal megabytes (the stricter reading: 286 MiB). */
const rssLimitBytes = 300e6

interface Options {
  readonly sets: ReadonlyArray<SetName>
  readonly tools: ReadonlyArray<ToolName>
  readonly quick: boolean
}

const parseOptions = (): Options => {
  const { values } = parseArgs({
    options: {
      sets: { type: "string", default: allSets.join(",") },
      tools: { type: "string", default: allTools.join(",") },
      quick: { type: "boolean", default: false }
    }
  })
  const pick = <A extends string>(raw: string, allowed: ReadonlyArray<A>, what: string): Array<A> =>
    raw.split(",").map((s) => s.trim()).filter((s) => s !== "").map((s) => {
      if (!(allowed as ReadonlyArray<string>).includes(s)) throw new Error(`unknown ${what} "${s}" (one of ${allowed.join(", ")})`)
      return s as A
    })
  return { sets: pick(values.sets, knownSets, "set"), tools: pick(values.tools, allTools, "tool"), quick: values.quick }
}

// ---------------------------------------------------------------------------------------------
// Data generation (cached under .bench-data/, regenerated when missing or made with other params)

interface DataSet {
  readonly name: SetName
  readonly dir: string
  readonly files: number
  readonly bytes: number
}

/** A finished data set has `<dir>.json` beside it; generation writes `<dir>.partial` and renames. */
const cached = (dir: string, params: object): DataSet | undefined => {
  try {
    const meta = JSON.parse(fs.readFileSync(`${dir}.json`, "utf8")) as { params: object; set: DataSet }
    if (JSON.stringify(meta.params) === JSON.stringify(params) && fs.statSync(dir).isDirectory()) return meta.set
  } catch {
    // missing or unreadable: regenerate
  }
  return undefined
}

const finish = (dir: string, partial: string, params: object, set: DataSet): DataSet => {
  fs.rmSync(dir, { recursive: true, force: true })
  fs.renameSync(partial, dir)
  fs.writeFileSync(`${dir}.json`, `${JSON.stringify({ params, set }, null, 2)}\n`)
  return set
}

/** 4 files of 256 MiB (÷ scale), random bytes written in 16 MiB blocks from one reused buffer. */
const generateRandom = (scale: number): DataSet => {
  const dir = path.join(dataRoot, scale === 1 ? "random" : `random-${scale}`)
  const params = { version: 1, files: 4, fileSize: (256 * MiB) / scale, block: 16 * MiB }
  const hit = cached(dir, params)
  if (hit) return hit
  console.log(`generating ${dir} (${params.files} × ${params.fileSize / MiB} MiB random)…`)
  const partial = `${dir}.partial`
  fs.rmSync(partial, { recursive: true, force: true })
  fs.mkdirSync(partial, { recursive: true })
  const block = Buffer.allocUnsafe(Math.min(params.block, params.fileSize))
  for (let i = 0; i < params.files; i++) {
    const fd = fs.openSync(path.join(partial, `random-${i}.bin`), "w")
    for (let written = 0; written < params.fileSize; written += block.length) {
      fs.writeSync(fd, randomFillSync(block))
    }
    fs.closeSync(fd)
  }
  return finish(dir, partial, params, { name: "random", dir, files: params.files, bytes: params.files * params.fileSize })
}

/** mulberry32: tiny, fast, seeded; good enough to make text deterministic, not for crypto. */
const prng = (seed: number) => {
  let a = seed >>> 0
  return (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const keywords = [
  "const", "let", "return", "if", "else", "for", "of", "function", "async", "await", "new", "this",
  "yield", "while", "break", "true", "false", "null", "undefined", "typeof", "export", "type"
]
const parts = [
  "user", "file", "chunk", "path", "size", "count", "index", "buffer", "stream", "key", "value", "node",
  "item", "list", "map", "set", "get", "make", "read", "write", "open", "close", "parse", "format", "load",
  "store", "cache", "entry", "id", "name", "time", "date", "error", "result", "options", "config", "state",
  "event", "handler", "queue", "task", "worker", "pool", "hash", "digest", "block", "offset", "length",
  "total", "next", "prev", "first", "last", "tree", "dir", "backup", "restore", "snapshot", "provider", "lock"
]
const operators = ["===", "!==", "<", ">", "<=", ">=", "+", "-", "&&", "||", "??"]

/**
 * Source-like text: indented statements over a file-local vocabulary picked from a global one with
 * a skewed (Zipf-ish) distribution, so a file repeats its own names the way code does and the set
 * compresses roughly like a source tree (not like random bytes, not like a repeated template).
 */
const makeSourceText = (rand: () => number, identifiers: ReadonlyArray<string>) => {
  const skewed = (n: number) => Math.floor(n * rand() * rand())
  return (size: number): string => {
    const local = Array.from({ length: 40 }, () => identifiers[skewed(identifiers.length)]!)
    const id = () => local[skewed(local.length)]!
    const call = () => `${id()}.${id()}(${rand() < 0.5 ? id() : `${id()}, ${Math.floor(rand() * 100)}`})`
    const expr = () => (rand() < 0.4 ? call() : `${id()} ${operators[skewed(operators.length)]} ${id()}`)
    const out: Array<string> = []
    let length = 0
    let depth = 0
    while (length < size) {
      const r = rand()
      let line: string
      if (r < 0.12 && depth < 5) {
        line = `${rand() < 0.5 ? "if" : "for"} (${expr()}) {`
        depth++
      } else if (r < 0.22 && depth > 0) {
        depth--
        line = "}"
      } else if (r < 0.3) {
        line = `// ${id()} ${keywords[skewed(keywords.length)]} ${id()} ${id()}`
      } else if (r < 0.34) {
        line = ""
      } else if (r < 0.6) {
        line = `const ${id()} = ${expr()}`
      } else if (r < 0.7) {
        line = `return ${expr()}`
      } else {
        line = call()
      }
      const text = `${"  ".repeat(depth)}${line}\n`
      out.push(text)
      length += text.length
    }
    return out.join("").slice(0, size)
  }
}

/**
 * ~18,000 files (÷ scale) totalling ~280 MB (÷ scale), 150 per leaf directory, leaves 3 levels
 * deep. Sizes are log-normal (median ≈ 11 KB, long tail) rescaled to the total. Deterministic.
 */
const generateSmall = (scale: number): DataSet => {
  const dir = path.join(dataRoot, scale === 1 ? "small" : `small-${scale}`)
  const params = { version: 1, seed: 20240611, files: Math.round(18_000 / scale), bytes: Math.round(280e6 / scale), perDir: 150 }
  const hit = cached(dir, params)
  if (hit) return hit
  console.log(`generating ${dir} (${params.files} source-like files, ~${Math.round(params.bytes / 1e6)} MB)…`)
  const rand = prng(params.seed)
  const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())
  const raw = Array.from({ length: params.files }, () => Math.exp(0.8 * normal()))
  const factor = params.bytes / raw.reduce((a, b) => a + b, 0)
  const sizes = raw.map((r) => Math.max(16, Math.min(1 * MiB, Math.round(r * factor))))

  const identifiers = Array.from({ length: 3000 }, () => {
    const n = 1 + Math.floor(rand() * 3)
    return Array.from({ length: n }, (_, i) => {
      const p = parts[Math.floor(rand() * parts.length)]!
      return i === 0 ? p : p[0]!.toUpperCase() + p.slice(1)
    }).join("")
  })
  const text = makeSourceText(rand, identifiers)

  const partial = `${dir}.partial`
  fs.rmSync(partial, { recursive: true, force: true })
  let bytes = 0
  for (let i = 0; i < params.files; i++) {
    const leaf = Math.floor(i / params.perDir) // 120 leaves at full size: 5 × 4 × 6
    const sub = path.join(partial, `pkg${Math.floor(leaf / 24)}`, `mod${Math.floor(leaf / 6) % 4}`, `src${leaf % 6}`)
    if (i % params.perDir === 0) fs.mkdirSync(sub, { recursive: true })
    const content = text(sizes[i]!)
    fs.writeFileSync(path.join(sub, `${identifiers[i % identifiers.length]}_${i}.ts`), content)
    bytes += content.length // ASCII only: characters = bytes
  }
  return finish(dir, partial, params, { name: "small", dir, files: params.files, bytes })
}

/**
 * 300,000 (÷ scale) tiny files of 60–180 bytes, 500 to a directory two levels deep: a tree whose
 * cost is its number of entries, not its bytes (a mail spool, a node_modules forest). What it
 * shows is how time and memory grow with the number of files; the issue sets no target for it.
 */
const generateTree = (scale: number): DataSet => {
  const dir = path.join(dataRoot, scale === 1 ? "tree" : `tree-${scale}`)
  const params = { version: 1, seed: 7, files: Math.round(300_000 / scale), perDir: 500 }
  const hit = cached(dir, params)
  if (hit) return hit
  console.log(`generating ${dir} (${params.files} tiny files)…`)
  const rand = prng(params.seed)
  const partial = `${dir}.partial`
  fs.rmSync(partial, { recursive: true, force: true })
  let bytes = 0
  for (let i = 0; i < params.files; i++) {
    const leaf = Math.floor(i / params.perDir)
    const sub = path.join(partial, `d${Math.floor(leaf / 25)}`, `e${leaf % 25}`)
    if (i % params.perDir === 0) fs.mkdirSync(sub, { recursive: true })
    const size = 60 + Math.floor(rand() * 120)
    const content = `${i}:${"abcdefghijklmnopqrstuvwxyz".repeat(8)}`.slice(0, size).padEnd(size, "-")
    fs.writeFileSync(path.join(sub, `m${i}.txt`), content)
    bytes += size
  }
  return finish(dir, partial, params, { name: "tree", dir, files: params.files, bytes })
}

const generate = (name: SetName, scale: number): DataSet =>
  name === "random" ? generateRandom(scale) : name === "small" ? generateSmall(scale) : generateTree(scale)

// ---------------------------------------------------------------------------------------------
// File-tree helpers

/** Regular files under `dir` (recursively): count and total size. */
const treeStats = (dir: string): { files: number; bytes: number } => {
  let files = 0
  let bytes = 0
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile()) {
        files++
        bytes += fs.statSync(p).size
      }
    }
  }
  walk(dir)
  return { files, bytes }
}

/**
 * Dropping the page cache is not allowed here, so instead every tool sees a warm cache: read the
 * whole set once, unmeasured (the equivalent of `cat` to /dev/null), before each tool runs.
 */
const warmCache = (dir: string) => {
  const buf = Buffer.allocUnsafe(16 * MiB)
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile()) {
        const fd = fs.openSync(p, "r")
        while (fs.readSync(fd, buf, 0, buf.length, null) > 0);
        fs.closeSync(fd)
      }
    }
  }
  walk(dir)
}

const onPath = (bin: string): string | undefined =>
  (process.env.PATH ?? "").split(path.delimiter).map((d) => path.join(d, bin)).find((p) => {
    try {
      fs.accessSync(p, fs.constants.X_OK)
      return fs.statSync(p).isFile()
    } catch {
      return false
    }
  })

const firstLine = (cmd: string, args: Array<string>): string =>
  (spawnSync(cmd, args, { encoding: "utf8" }).stdout ?? "").split("\n")[0]!.trim()


// ---------------------------------------------------------------------------------------------
// Measuring one command: wall clock around the process, peak RSS from GNU time (or /proc)

const gnuTime = (() => {
  const p = "/usr/bin/time"
  if (!fs.existsSync(p)) return undefined
  const r = spawnSync(p, ["--version"], { encoding: "utf8" })
  return `${r.stdout}${r.stderr}`.includes("GNU") ? p : undefined
})()

interface Cmd {
  readonly cmd: string
  readonly args: ReadonlyArray<string>
  readonly cwd?: string
  readonly env?: Readonly<Record<string, string>>
}

interface Measured {
  readonly seconds: number
  readonly rssKiB: number | undefined
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** VmHWM (peak RSS, KiB) of a live process; undefined once it is gone. */
const vmHwm = (pid: number): number | undefined => {
  const bytes = procStatus(pid, "VmHWM")
  return bytes === undefined ? undefined : bytes / 1024
}

let timeOutFile = ""

/**
 * Runs a command and measures it. Under GNU time, `%M` is the peak RSS of the command itself
 * (wait4 rusage), written to a file with -o so it never mixes with the command's own stderr.
 * Without it, /proc/<pid>/status VmHWM is polled every 20 ms; VmHWM only grows, so the last
 * sample before exit is the best (slightly low) estimate. `sync` first (unmeasured) so one
 * command's pending writeback is not billed to the next.
 */
const measure = (c: Cmd): Promise<Measured> => {
  spawnSync("sync")
  const [cmd, args] = gnuTime
    ? [gnuTime, ["-f", "%e %M", "-o", timeOutFile, c.cmd, ...c.args]]
    : [c.cmd, [...c.args]]
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(cmd, args, { cwd: c.cwd, env: { ...process.env, ...c.env }, stdio: ["ignore", "pipe", "pipe"] })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    child.stdout.on("data", (b: Buffer) => out.push(b))
    child.stderr.on("data", (b: Buffer) => err.push(b))
    let polled: number | undefined
    const poll = gnuTime ? undefined : setInterval(() => {
      polled = vmHwm(child.pid!) ?? polled
    }, 20)
    child.on("error", reject)
    child.on("close", (code, signal) => {
      const seconds = (performance.now() - t0) / 1000
      if (poll) clearInterval(poll)
      let rssKiB = polled
      if (gnuTime) {
        // On failure GNU time writes "Command exited with non-zero status N" before the format line.
        const last = fs.readFileSync(timeOutFile, "utf8").trim().split("\n").pop() ?? ""
        const m = /^([\d.]+) (\d+)$/.exec(last)
        rssKiB = m ? Number(m[2]) : undefined
      }
      resolve({
        seconds,
        rssKiB,
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8")
      })
    })
  })
}

/**
 * Whether this process may drop the page cache (root). A restore right after a backup reads what
 * the backup left in the cache: restic's and borg's packs, written through it; not enigma's chunk
 * files, written and read with O_DIRECT (storage/DirectIo.ts), so that its restore reads the device
 * either way. The cold runs compare the tools as they restore after a disaster.
 */
const canDropCaches = (() => {
  try {
    fs.accessSync("/proc/sys/vm/drop_caches", fs.constants.W_OK)
    return true
  } catch {
    return false
  }
})()

/**
 * Writes back and drops the page cache, then runs `warm` unmeasured: the program itself (node and
 * enigma's bundle, restic's binary, …) is loaded again, so that the cold run measures reading the
 * repository rather than loading the program.
 */
const dropCaches = (warm: Cmd) => {
  spawnSync("sync")
  fs.writeFileSync("/proc/sys/vm/drop_caches", "3")
  spawnSync(warm.cmd, [...warm.args], { env: { ...process.env, ...warm.env }, stdio: "ignore" })
}

/** Unmeasured helper commands (init, verification): fail loudly. */
const run = (c: Cmd): string => {
  const r = spawnSync(c.cmd, [...c.args], { cwd: c.cwd, env: { ...process.env, ...c.env }, encoding: "utf8", maxBuffer: 64 * MiB })
  if (r.status !== 0) throw new Error(`${c.cmd} ${c.args.join(" ")} exited ${r.status}: ${(r.stderr || r.stdout).trim().slice(0, 2000)}`)
  return r.stdout
}

// ---------------------------------------------------------------------------------------------
// The tools: how to init, back up and restore with each

interface Tool {
  readonly name: ToolName
  readonly version: () => string
  readonly init: (repo: string) => void
  readonly backup: (repo: string, data: string, n: 1 | 2) => Cmd
  /** What restore needs to name the first backup (enigma prints its id; the others name it themselves). */
  readonly backupId: (stdout: string) => string
  readonly restore: (repo: string, id: string, dest: string) => Cmd
  /** A command that loads the program and reads no repository (before a cold run). */
  readonly warm: Cmd
  readonly notes: Array<string>
}

/** `bundle`: the snapshot of dist/enigma.mjs that this run measures (see snapshotDist). */
const makeEnigma = (bundle: string, revision: string): Tool => {
  const env = { ENIGMA_PASSPHRASE: "x" }
  const cli = (repo: string, ...args: Array<string>): Cmd => ({ cmd: bundle, args: ["--config-dir", repo, ...args], env })
  return {
    name: "enigma",
    version: () => `enigma ${revision} (copy of dist/ run with node ${process.version})`,
    init: (repo) => void run(cli(repo, "init")),
    backup: (repo, data) => cli(repo, "backup", data, "--json"),
    backupId: (stdout) => (JSON.parse(stdout) as { backupId: string }).backupId,
    restore: (repo, id, dest) => cli(repo, "restore", id, dest),
    warm: { cmd: bundle, args: ["--version"] },
    notes: ["enigma: defaults from `init` (CDC 4 MiB target, compression off, AES-256-GCM, fsync per chunk)"]
  }
}

const makeRestic = (work: string): Tool => {
  // A cache dir inside the run's work dir: fresh for a fresh repo, and removed with it.
  const env = { RESTIC_PASSWORD: "x", RESTIC_CACHE_DIR: path.join(work, "restic-cache") }
  const noScan = (spawnSync("restic", ["backup", "--help"], { encoding: "utf8" }).stdout ?? "").includes("--no-scan")
  const tool: Tool = {
    name: "restic",
    version: () => firstLine("restic", ["version"]),
    init: (repo) => {
      run({ cmd: "restic", args: ["-r", repo, "init"], env })
      const config = JSON.parse(run({ cmd: "restic", args: ["-r", repo, "cat", "config"], env })) as { version: number }
      const note = `restic: repository format v${config.version}, default compression (auto = zstd fastest in v2)`
      if (!tool.notes.includes(note)) tool.notes.push(note)
    },
    backup: (repo, data) => ({ cmd: "restic", args: ["-r", repo, "backup", data, ...(noScan ? ["--no-scan"] : []), "-q"], env }),
    backupId: () => "latest",
    restore: (repo, id, dest) => ({ cmd: "restic", args: ["-r", repo, "restore", id, "--target", dest, "-q"], env }),
    warm: { cmd: "restic", args: ["version"] },
    notes: noScan ? [] : ["restic: this version has no --no-scan, so backups run with its (parallel) scan"]
  }
  return tool
}

const makeBorg = (work: string): Tool => {
  const env = {
    BORG_PASSPHRASE: "x",
    // Config, keys and cache under the run's work dir: fresh per repo, removed with it.
    BORG_BASE_DIR: path.join(work, "borg-home"),
    BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: "yes",
    BORG_RELOCATED_REPO_ACCESS_IS_OK: "yes"
  }
  const tool: Tool = {
    name: "borg",
    version: () => firstLine("borg", ["--version"]),
    init: (repo) => {
      try {
        run({ cmd: "borg", args: ["init", "-e", "repokey-blake2", repo], env })
        if (!tool.notes.includes("borg: repokey-blake2, default compression (lz4)")) tool.notes.push("borg: repokey-blake2, default compression (lz4)")
      } catch {
        fs.rmSync(repo, { recursive: true, force: true })
        run({ cmd: "borg", args: ["init", "-e", "repokey", repo], env })
        if (!tool.notes.includes("borg: repokey (blake2 unavailable), default compression (lz4)")) tool.notes.push("borg: repokey (blake2 unavailable), default compression (lz4)")
      }
    },
    backup: (repo, data, n) => ({ cmd: "borg", args: ["create", `${repo}::a${n}`, data], env }),
    backupId: () => "a1",
    // borg extracts into the current directory.
    restore: (repo, id, dest) => ({ cmd: "borg", args: ["extract", `${repo}::${id}`], cwd: dest, env }),
    warm: { cmd: "borg", args: ["--version"] },
    notes: []
  }
  return tool
}

// ---------------------------------------------------------------------------------------------
// Running one tool on one data set

interface Result {
  readonly set: SetName
  readonly tool: ToolName | "tar"
  readonly phase: Phase
  readonly seconds: number
  readonly mbPerS: number
  readonly rssMiB: number | undefined
  readonly ok: boolean
  readonly error?: string
  readonly detail?: Record<string, unknown>
}

const record = (set: DataSet, tool: Result["tool"], phase: Phase, m: Measured, detail?: Record<string, unknown>): Result => {
  const ok = m.code === 0
  const r: Result = {
    set: set.name,
    tool,
    phase,
    seconds: m.seconds,
    mbPerS: set.bytes / 1e6 / m.seconds,
    rssMiB: m.rssKiB === undefined ? undefined : m.rssKiB / 1024,
    ok,
    ...(ok ? {} : { error: `exit ${m.code}: ${(m.stderr || m.stdout).trim().slice(-1500)}` }),
    ...(detail ? { detail } : {})
  }
  const rss = r.rssMiB === undefined ? "?" : r.rssMiB.toFixed(0)
  console.log(`  ${tool.padEnd(6)} ${phase.padEnd(14)} ${m.seconds.toFixed(2).padStart(7)} s ${r.mbPerS.toFixed(0).padStart(5)} MB/s  ${rss.padStart(5)} MiB${ok ? "" : `  FAILED ${r.error}`}`)
  return r
}

/** Restored tree holds the same number of files and bytes; for enigma also diff -r / cmp. */
const verifyRestore = (set: DataSet, tool: ToolName | "tar", dest: string): Record<string, unknown> => {
  const got = treeStats(dest)
  const problems: Array<string> = []
  if (got.files !== set.files || got.bytes !== set.bytes) {
    problems.push(`restored ${got.files} files / ${got.bytes} B, expected ${set.files} / ${set.bytes}`)
  }
  const checks = ["file count", "total bytes"]
  if (tool === "enigma") {
    // enigma restores a backed-up directory under DEST/<its basename>.
    const root = path.join(dest, path.basename(set.dir))
    if (set.name !== "random") {
      checks.push("diff -r")
      const r = spawnSync("diff", ["-rq", set.dir, root], { encoding: "utf8", maxBuffer: 64 * MiB })
      if (r.status !== 0) problems.push(`diff -r: ${(r.stdout + r.stderr).trim().split("\n").slice(0, 5).join("; ")}`)
    } else {
      const name = `random-${Math.floor(Math.random() * set.files)}.bin`
      checks.push(`cmp ${name}`)
      const r = spawnSync("cmp", [path.join(set.dir, name), path.join(root, name)], { encoding: "utf8" })
      if (r.status !== 0) problems.push(`cmp ${name}: ${(r.stdout + r.stderr).trim()}`)
    }
  }
  if (problems.length > 0) console.log(`  ${tool} restore VERIFY FAILED: ${problems.join("; ")}`)
  return { verified: problems.length === 0, checks, ...(problems.length > 0 ? { problems } : {}) }
}

const duBytes = (dir: string) => treeStats(dir).bytes

/**
 * Fresh repo → first backup → unchanged re-backup → full restore into an empty dir, and (where the
 * page cache can be dropped) another from a cold cache into another; all kept until the set is done.
 */
const runTool = async (tool: Tool, set: DataSet, work: string): Promise<Array<Result>> => {
  const repo = path.join(work, `${tool.name}-repo`)
  const dest = path.join(work, `${tool.name}-restore`)
  const coldDest = path.join(work, `${tool.name}-restore-cold`)
  const results: Array<Result> = []
  try {
    tool.init(repo)
    warmCache(set.dir)

    const b1 = await measure(tool.backup(repo, set.dir, 1))
    const d1: Record<string, unknown> = { repoBytes: duBytes(repo) }
    if (tool.name === "enigma" && b1.code === 0) d1.enigma = JSON.parse(b1.stdout)
    results.push(record(set, tool.name, "first backup", b1, d1))
    if (b1.code !== 0) return results

    const b2 = await measure(tool.backup(repo, set.dir, 2))
    const d2: Record<string, unknown> = {}
    if (tool.name === "enigma" && b2.code === 0) d2.enigma = JSON.parse(b2.stdout)
    results.push(record(set, tool.name, "re-backup", b2, d2))

    fs.mkdirSync(dest)
    const r = await measure(tool.restore(repo, tool.backupId(b1.stdout), dest))
    results.push(record(set, tool.name, "restore", r, r.code === 0 ? verifyRestore(set, tool.name, dest) : undefined))

    if (canDropCaches) {
      fs.mkdirSync(coldDest)
      dropCaches(tool.warm)
      const c = await measure(tool.restore(repo, tool.backupId(b1.stdout), coldDest))
      results.push(record(set, tool.name, "restore (cold)", c, c.code === 0 ? verifyRestore(set, tool.name, coldDest) : undefined))
    }
  } catch (e) {
    console.log(`  ${tool.name}: ${e instanceof Error ? e.message : String(e)}`)
  } finally {
    leftovers.push(repo, dest, coldDest)
  }
  return results
}

/**
 * Trees a set's runs leave behind (repositories, restores, the tar archive), removed only once
 * every tool has run on the set. Deleting 18,000 files leaves the filesystem work to do (ext4
 * here: freed inodes, journal) that slowed the next file-creating command by up to 3×, so a
 * removal between two measured commands made whichever came next look slow.
 */
const leftovers: Array<string> = []
const removeLeftovers = () => {
  for (const p of leftovers.splice(0)) fs.rmSync(p, { recursive: true, force: true })
}

/** `tar cf` of the small tree (kept for `tarExtract`): the floor for reading the files. */
const runTarCreate = async (set: DataSet, work: string): Promise<Result | undefined> => {
  const archive = path.join(work, "set.tar")
  leftovers.push(archive)
  warmCache(set.dir)
  const c = await measure({ cmd: "tar", args: ["cf", archive, "-C", path.dirname(set.dir), path.basename(set.dir)] })
  return record(set, "tar", "tar c", c)
}

/** `tar xf` of that archive into an empty dir: the floor for creating the files (`cold`: reading the archive too). */
const runTarExtract = async (set: DataSet, work: string, round: number, cold = false): Promise<Result> => {
  const dest = path.join(work, `tar-restore-${round}`)
  leftovers.push(dest)
  fs.mkdirSync(dest)
  if (cold) dropCaches({ cmd: "tar", args: ["--version"] })
  const x = await measure({ cmd: "tar", args: ["xf", path.join(work, "set.tar"), "-C", dest] })
  return record(set, "tar", cold ? "tar x (cold)" : "tar x", x, x.code === 0 ? verifyRestore(set, "tar", dest) : undefined)
}

// ---------------------------------------------------------------------------------------------
// Report: table, targets, JSON

const fmt = (n: number | undefined, digits: number) => (n === undefined || !Number.isFinite(n) ? "-" : n.toFixed(digits))

const printTable = (results: ReadonlyArray<Result>, sets: ReadonlyArray<DataSet>) => {
  const header = ["data set", "tool", "phase", "seconds", "MB/s", "peak RSS MiB", "status"]
  const rows = results.map((r) => {
    const set = sets.find((s) => s.name === r.set)!
    return [
      `${r.set} (${(set.bytes / 1e6).toFixed(0)} MB)`,
      r.tool,
      r.phase,
      fmt(r.seconds, 2),
      fmt(r.mbPerS, 0),
      fmt(r.rssMiB, 0),
      r.ok ? (r.detail?.verified === false ? "VERIFY FAILED" : r.detail?.verified === true ? "verified" : "ok") : "FAILED"
    ]
  })
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: Array<string>) =>
    cells.map((c, i) => (i >= 3 && i <= 5 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd()
  console.log(line(header))
  console.log(widths.map((w) => "-".repeat(w)).join("  "))
  for (const row of rows) console.log(line(row))
}

interface Target {
  readonly target: string
  readonly status: "PASS" | "MISS" | "SKIP"
  readonly detail: string
}

/** The result of a phase; of one measured more than once (`tar x`), the fastest that succeeded. */
const find = (results: ReadonlyArray<Result>, set: SetName, tool: Result["tool"], phase: Phase) => {
  const all = results.filter((r) => r.set === set && r.tool === tool && r.phase === phase)
  const ok = all.filter((r) => r.ok)
  return ok.length > 0 ? ok.reduce((a, b) => (b.seconds < a.seconds ? b : a)) : all[0]
}

/**
 * `enigma`'s speed-up over `other` on the same phase (same data, so time ratio = throughput
 * ratio) against a minimum. MISS if enigma failed or is slower than asked; SKIP if the other
 * side was not run or failed (nothing to compare with).
 */
const speedup = (results: ReadonlyArray<Result>, label: string, set: SetName, phase: Phase, other: Result["tool"], otherPhase: Phase, min: number, strictlyFaster = false): Target => {
  const e = find(results, set, "enigma", phase)
  const o = find(results, set, other, otherPhase)
  if (!e) return { target: label, status: "SKIP", detail: "enigma not run" }
  if (!o || !o.ok) return { target: label, status: "SKIP", detail: `${other} ${o ? "failed" : "not run"}` }
  if (!e.ok || e.detail?.verified === false) return { target: label, status: "MISS", detail: "enigma failed" }
  const ratio = o.seconds / e.seconds
  const pass = strictlyFaster ? ratio > 1 : ratio >= min
  return { target: label, status: pass ? "PASS" : "MISS", detail: `${ratio.toFixed(2)}× (enigma ${e.seconds.toFixed(2)} s vs ${other} ${o.seconds.toFixed(2)} s)` }
}

const evaluateTargets = (results: ReadonlyArray<Result>): Array<Target> => {
  const targets: Array<Target> = [
    speedup(results, "new random data: enigma ≥ 3× borg's throughput", "random", "first backup", "borg", "first backup", 3),
    speedup(results, "small files, first backup: enigma ≥ 2× borg's", "small", "first backup", "borg", "first backup", 2),
    speedup(results, "small files, first backup: enigma ≥ 1.5× restic's", "small", "first backup", "restic", "first backup", 1.5)
  ]
  for (const set of allSets) {
    for (const other of ["restic", "borg"] as const) {
      targets.push(speedup(results, `unchanged re-backup (${set}): enigma faster than ${other}`, set, "re-backup", other, "re-backup", 1, true))
    }
  }
  targets.push(speedup(results, "restore of the random set: enigma ≥ 2× restic's throughput", "random", "restore", "restic", "restore", 2))
  // Within 10% of tar x: enigma time ≤ 1.1 × tar's, i.e. speed-up ≥ 1/1.1.
  targets.push(speedup(results, "restore of the small set within 10% of `tar x`", "small", "restore", "tar", "tar x", 1 / 1.1))
  // The same two from a cold page cache (where it could be dropped): a restore after a disaster.
  if (results.some((r) => r.phase === "restore (cold)")) {
    targets.push(speedup(results, "cold cache: restore of the random set: enigma ≥ 2× restic's", "random", "restore (cold)", "restic", "restore (cold)", 2))
    targets.push(speedup(results, "cold cache: restore of the small set within 10% of `tar x`", "small", "restore (cold)", "tar", "tar x (cold)", 1 / 1.1))
  }

  // The issue's sets: the tree set has no target, only its figures.
  const enigma = results.filter((r) => r.tool === "enigma" && r.set !== "tree")
  const measured = enigma.filter((r) => r.rssMiB !== undefined)
  if (measured.length === 0) {
    targets.push({ target: "peak RSS of every enigma command ≤ 300 MB", status: "SKIP", detail: "no enigma RSS measured" })
  } else {
    const worst = measured.reduce((a, b) => (b.rssMiB! > a.rssMiB! ? b : a))
    const worstBytes = worst.rssMiB! * MiB
    targets.push({
      target: "peak RSS of every enigma command ≤ 300 MB",
      status: worstBytes <= rssLimitBytes ? "PASS" : "MISS",
      detail: `worst ${(worstBytes / 1e6).toFixed(0)} MB (${worst.rssMiB!.toFixed(0)} MiB) in ${worst.set} ${worst.phase}; limit 300 MB = ${(rssLimitBytes / MiB).toFixed(0)} MiB`
    })
  }
  return targets
}

// ---------------------------------------------------------------------------------------------


const main = async () => {
  const options = parseOptions()
  const scale = options.quick ? 8 : 1
  if (!fs.existsSync(enigmaCli)) {
    console.log(`${enigmaCli} missing: building it (node scripts/build.ts)…`)
    run({ cmd: process.execPath, args: [path.join(repoRoot, "scripts", "build.ts")], cwd: repoRoot })
  }
  fs.mkdirSync(dataRoot, { recursive: true })

  const sets = options.sets.map((name) => generate(name, scale))
  // Repos and restores go in a temp dir beside the data: the same filesystem, so no tool is
  // favoured by a faster disk (and nothing is measured on tmpfs).
  const work = fs.mkdtempSync(path.join(dataRoot, "work-"))
  timeOutFile = path.join(work, "time.out")
  const cleanup = () => fs.rmSync(work, { recursive: true, force: true })
  process.on("SIGINT", () => {
    cleanup()
    process.exit(130)
  })
  const sameFs = sets.every((s) => fs.statSync(s.dir).dev === fs.statSync(work).dev)

  const checkout = revision()
  const bundle = snapshotDist(work)
  const missing = options.tools.filter((t) => t !== "enigma" && !onPath(t))
  const tools: Array<Tool> = options.tools.filter((t) => !missing.includes(t)).map((t) =>
    t === "enigma" ? makeEnigma(bundle, checkout) : t === "restic" ? makeRestic(work) : makeBorg(work)
  )

  console.log(`backup benchmark${options.quick ? " (--quick: 1/8 of the data)" : ""}`)
  console.log(`  machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.loadavg()[0]!.toFixed(2)} load`)
  // The machine's speed (bench/_cpu.ts): the VMs here change speed from day to day.
  const cpuBefore = measureCpuRates()
  console.log(`  ${describeCpuRates(cpuBefore)}`)
  for (const s of sets) console.log(`  data ${s.name}: ${s.files} files, ${(s.bytes / 1e6).toFixed(0)} MB in ${s.dir}`)
  console.log(`  repos/restores in ${work} (${sameFs ? "same filesystem as the data" : "NOT the data's filesystem"})`)
  console.log("  page cache warm: each set is read once unmeasured (like cat > /dev/null) before each tool; not dropped")
  console.log(canDropCaches
    ? "  cold restores: page cache dropped (sync; echo 3 > /proc/sys/vm/drop_caches) and the program loaded again before each"
    : "  cold restores: skipped (dropping the page cache needs root)")
  console.log(`  peak RSS: ${gnuTime ? "GNU time %M" : "polling /proc/<pid>/status VmHWM (install `time` for GNU time)"}; \`sync\` before each timed command`)
  for (const t of tools) console.log(`  ${t.version()}`)
  if (missing.length > 0) console.log(`  ${missing.join(" and ")} not found on PATH: skipped (install with \`${installHint}\`)`)
  console.log()

  const results: Array<Result> = []
  try {
    for (const set of sets) {
      console.log(`${set.name}:`)
      // tar x runs before and after the tools; the target compares with the faster of the two.
      const tarCreated = set.name !== "random" ? await runTarCreate(set, work) : undefined
      if (tarCreated) results.push(tarCreated)
      if (tarCreated?.ok) results.push(await runTarExtract(set, work, 1))
      for (const tool of tools) results.push(...(await runTool(tool, set, work)))
      if (tarCreated?.ok) results.push(await runTarExtract(set, work, 2))
      if (tarCreated?.ok && canDropCaches) results.push(await runTarExtract(set, work, 3, true))
      removeLeftovers()
      console.log()
    }
  } finally {
    cleanup()
  }

  printTable(results, sets)
  const notes = tools.flatMap((t) => t.notes)
  console.log()
  for (const n of notes) console.log(`note: ${n}`)
  const cpuAfter = measureCpuRates()
  console.log(`note: the machine at the start: ${describeCpuRates(cpuBefore)}`)
  console.log(`note: the machine at the end: ${describeCpuRates(cpuAfter)}`)
  for (const r of results) {
    // enigma reports its own backup duration: the rest of the wall time is process start-up,
    // key unsealing (Argon2id), opening the manifest and closing down.
    const e = r.detail?.enigma as { bytesRead: number; newBytes: number; durationMs: number } | undefined
    if (e === undefined) continue
    const overhead = r.seconds - e.durationMs / 1000
    const reread = r.phase === "re-backup" ? `, read ${e.bytesRead} B, stored ${e.newBytes} B new` : ""
    console.log(`note: enigma ${r.set} ${r.phase}: ${(e.durationMs / 1000).toFixed(2)} s in the backup itself, ${overhead.toFixed(2)} s around it${reread}`)
  }

  // The issue's targets are about its two sets: a run of the tree set alone has none to show.
  const targets = options.sets.some((s) => s !== "tree") ? evaluateTargets(results) : []
  console.log()
  console.log(targets.length > 0 ? "targets:" : "targets: none for the tree set (figures only)")
  for (const t of targets) console.log(`  ${t.status.padEnd(4)}  ${t.target}: ${t.detail}`)

  const report = {
    date: new Date().toISOString(),
    quick: options.quick,
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memBytes: os.totalmem(), node: process.version, cpuBefore, cpuAfter },
    versions: Object.fromEntries(tools.map((t) => [t.name, t.version()])),
    checkout,
    skippedTools: missing,
    workDir: work,
    sameFilesystem: sameFs,
    pageCache: `warm (each set read once unmeasured before each tool; not dropped)${canDropCaches ? "; cold phases: dropped before each" : ""}`,
    rss: gnuTime ? "GNU time %M" : "/proc VmHWM polling",
    sets,
    results,
    notes,
    targets
  }
  const resultsFile = resultsFileFor(options.sets)
  fs.writeFileSync(resultsFile, `${JSON.stringify(report, null, 2)}\n`)
  console.log(`\nresults written to ${path.relative(process.cwd(), resultsFile) || resultsFile}`)
}

await main()
