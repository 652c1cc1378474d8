import { assert, describe, it } from "@effect/vitest"
import { spawn, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { enigmaBin, initRepo, passphrase, tempDir } from "../support/cli.ts"

/**
 * `dist/enigma.mjs` run as users run it (`npx enigma`, a symlink in node_modules/.bin): as an
 * executable, through its shebang, which sets glibc's allocator tunables (scripts/build.ts).
 * Every other test runs it as `node dist/enigma.mjs`, which skips the shebang.
 */
const env = (extra: Record<string, string> = {}) => ({
  ...process.env,
  // `env node` in the shebang must find the Node 24 that runs the tests.
  PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ""}`,
  ENIGMA_PASSPHRASE: passphrase,
  ...extra
})

/**
 * Runs a `put` that waits on stdin and calls `look(pid)` every 20 ms until it returns a value;
 * then ends stdin, and gives that value once the put has exited 0.
 */
const watchRunningPut = <A>(args: ReadonlyArray<string>, name: string, extra: Record<string, string>, look: (pid: number) => A | undefined) =>
  new Promise<A>((resolve, reject) => {
    const child = spawn(enigmaBin, [...args, "put", name, "--summary", "none"], { env: env(extra), stdio: ["pipe", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    child.on("error", reject)
    let seen: A | undefined
    const poll = setInterval(() => {
      seen = look(child.pid!)
      if (seen === undefined) return
      clearInterval(poll)
      child.stdin.end("a few bytes")
    }, 20)
    child.on("close", (code) => {
      clearInterval(poll)
      if (code !== 0 || seen === undefined) reject(new Error(`put exited ${code}: ${stderr}`))
      else resolve(seen)
    })
  })

/** The GLIBC_TUNABLES and command line a running process started with, read while it waits on stdin. */
const startOfRunningPut = (args: ReadonlyArray<string>, name: string, extra: Record<string, string> = {}) =>
  watchRunningPut(args, name, extra, (pid) => {
    // Once node runs (env execs it in place, same pid), its environment is final. Before that
    // the pid is env's, whose one `-S` argument also names node: look at the program itself.
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")
    if (path.basename(argv[0] ?? "") !== "node") return undefined
    const tunables = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").find((v) => v.startsWith("GLIBC_TUNABLES=")) ?? ""
    return { tunables, argv: argv as ReadonlyArray<string> }
  })

/** libuv's pool threads of a running put, counted while it waits on stdin. */
const poolThreadsOfRunningPut = (args: ReadonlyArray<string>, name: string, extra: Record<string, string> = {}) => {
  const count = (pid: number) => {
    let tasks: Array<string>
    try {
      tasks = readdirSync(`/proc/${pid}/task`)
    } catch {
      return 0 // not started yet, or exited
    }
    return tasks.filter((t) => {
      try {
        return readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim() === "libuv-worker"
      } catch {
        return false // the thread ended while we looked
      }
    }).length
  }
  // Threads a pool thread starts carry its name too: Argon2id runs its lanes on threads of its
  // own while the repository opens (10–12 were seen then), and the pool's own threads start one
  // after another (a busy machine showed 2 of 3 for a moment). By 2 s after the first appears the
  // put waits on stdin: the lanes have ended, the pool's threads never do, and the count is the pool.
  let since: number | undefined
  return watchRunningPut(args, name, extra, (pid) => {
    const n = count(pid)
    if (n === 0 && since === undefined) return undefined
    since ??= Date.now()
    return Date.now() - since < 2000 ? undefined : n
  })
}

/**
 * A Node older than 24.7 on this machine (Debian's, which \`npm ci\` runs under here and in CI), or
 * undefined. It is what a shell finds first when the user runs the binary outside \`npx\`.
 */
const olderNode = ["/usr/bin/node", "/usr/local/bin/node"].find((n) => {
  const r = spawnSync(n, ["-p", "process.versions.node"], { encoding: "utf8" })
  if (r.status !== 0) return false
  const [major, minor] = r.stdout.trim().split(".").map(Number)
  return major! < 24 || (major === 24 && minor! < 7)
})

describe("the launcher", () => {
  it("runs as an executable", () => {
    const r = spawnSync(enigmaBin, ["--version"], { env: env(), encoding: "utf8" })
    assert.strictEqual(r.status, 0, r.stderr)
    assert.match(r.stdout, /^enigma v\d/)
  })

  it("starts node with the allocator tunables; a user's own GLIBC_TUNABLES is appended and works", async () => {
    const { g: args } = initRepo()
    const ours = await startOfRunningPut(args, "ours")
    assert.match(ours.tunables, /^GLIBC_TUNABLES=glibc\.malloc\.hugetlb=1/)
    // glibc cuts the variable short where it parsed it, in /proc's copy, so only the start of it
    // can be read from outside; that the put succeeds with the user's value appended is the check.
    const withUsers = await startOfRunningPut(args, "users", { GLIBC_TUNABLES: "glibc.malloc.arena_max=2" })
    assert.match(withUsers.tunables, /^GLIBC_TUNABLES=glibc\.malloc\.hugetlb=1/)
  })

  it("puts every tunable and V8 flag on a #! line Linux reads whole (255 bytes)", () => {
    for (const bin of ["enigma.mjs", "enigma-proxy.mjs"]) {
      const first = readFileSync(path.join(path.dirname(enigmaBin), bin), "utf8").split("\n")[0]!
      assert.isAtMost(Buffer.byteLength(first), 255, bin)
      for (const tunable of ["hugetlb=1", "mmap_threshold=33554432", "trim_threshold=67108864", "arena_max=1"]) {
        assert.include(first, `glibc.malloc.${tunable}`, bin)
      }
      assert.match(first, /:\$\{GLIBC_TUNABLES\} node --max-semi-space-size=4 --initial-old-space-size=64$/, bin)
    }
  })

  it("caps V8's young generation (peak RSS of put and backup) and gives its old generation room (fewer full GCs)", async () => {
    const { g: args } = initRepo()
    const { argv } = await startOfRunningPut(args, "semi")
    assert.include(argv, "--max-semi-space-size=4", argv.join(" "))
    assert.include(argv, "--initial-old-space-size=64", argv.join(" "))
  })

  it("runs no full GC in a put or backup for the chunk buffers they free themselves (OwnedBuffersGc.ts)", () => {
    const { root, g: args } = initRepo()
    // The shebang's V8 flags, and V8's GC trace on stdout (NODE_OPTIONS may not carry it).
    const shebang = readFileSync(enigmaBin, "utf8").split("\n")[0]!
    const v8Flags = shebang.slice(shebang.indexOf(" node ") + 6).split(" ").filter((f) => f.startsWith("--"))
    assert.include(v8Flags, "--initial-old-space-size=64", shebang)
    const fullGcs = (command: ReadonlyArray<string>, input?: Uint8Array) => {
      const r = spawnSync(process.execPath, [...v8Flags, "--trace-gc", enigmaBin, ...args, ...command], {
        env: env(),
        input: input ?? new Uint8Array(0),
        maxBuffer: 64 * 1024 * 1024
      })
      assert.strictEqual(r.status, 0, r.stderr.toString())
      return r.stdout.toString().split("\n").filter((l) => l.includes("Mark-Compact")).length
    }
    // 256 MiB in flight as ~64 chunks: with V8's default accounting, 4–6 full GCs.
    const data = randomBytes(256 * 1024 * 1024)
    assert.isAtMost(fullGcs(["put", "gc", "--summary", "none"], data), 1)
    writeFileSync(path.join(root, "big.bin"), data)
    assert.isAtMost(fullGcs(["backup", path.join(root, "big.bin")]), 1)
  }, 120_000)

  it("gives libuv's thread pool 8 threads (O_DIRECT I/O holds one per transfer); a user's UV_THREADPOOL_SIZE wins", async () => {
    const { g: args } = initRepo()
    assert.strictEqual(await poolThreadsOfRunningPut(args, "pool"), 8)
    assert.strictEqual(await poolThreadsOfRunningPut(args, "pool2", { UV_THREADPOOL_SIZE: "3" }), 3)
  })

  it.skipIf(olderNode === undefined)("under an older Node, runs itself again under the Node 24 that npm ci installed", () => {
    const oldPath = `${path.dirname(olderNode!)}${path.delimiter}${process.env.PATH ?? ""}`
    const version = spawnSync(olderNode!, [enigmaBin, "--version"], { env: env({ PATH: oldPath }), encoding: "utf8" })
    assert.strictEqual(version.status, 0, version.stderr)
    assert.match(version.stdout, /^enigma v\d/)
    // Through its shebang too, with stdin and stdout passed through and the exit code kept.
    const { g } = initRepo()
    const bytes = Buffer.from("through the older node\n".repeat(1000))
    const put = spawnSync(enigmaBin, [...g, "put", "old-node", "--summary", "none"], { env: env({ PATH: oldPath }), input: bytes })
    assert.strictEqual(put.status, 0, put.stderr.toString())
    const get = spawnSync(enigmaBin, [...g, "get", "old-node", "--summary", "none"], { env: env({ PATH: oldPath }), maxBuffer: 1 << 24 })
    assert.strictEqual(get.status, 0, get.stderr.toString())
    assert.isTrue(get.stdout.equals(bytes))
    const missing = spawnSync(enigmaBin, [...g, "get", "no-such-stream"], { env: env({ PATH: oldPath }), encoding: "utf8" })
    assert.strictEqual(missing.status, 1)
    assert.match(missing.stderr, /no-such-stream/)
  })

  it.skipIf(olderNode === undefined)("under an older Node, SIGINT or SIGTERM sent to the launcher alone stops the command: exit 130, nothing recorded as complete, the lock let go", async () => {
    const oldPath = `${path.dirname(olderNode!)}${path.delimiter}${process.env.PATH ?? ""}`
    const { g } = initRepo()
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      // A put waiting on stdin that never ends: only the signal can stop it.
      const child = spawn(enigmaBin, [...g, "put", `stopped-${signal}`, "--summary", "none"], { env: env({ PATH: oldPath }), stdio: ["pipe", "ignore", "pipe"] })
      let stderr = ""
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
      // The put ends before reading all of it: the pipe's EPIPE is expected, not an error of the test.
      child.stdin.on("error", () => {})
      child.stdin.write(randomBytes(1 << 20))
      // Sent once the Node 24 child runs (the launcher has spawned it and it holds the lock).
      const started = Date.now()
      const locks = path.join(g[1], "storage", "locks")
      while (!(existsSync(locks) && readdirSync(locks).length > 0) && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 50))
      child.kill(signal)
      const code = await new Promise<number | null>((resolve) => child.on("close", resolve))
      assert.strictEqual(code, 130, `${signal}: ${stderr}`)
    }
    // Neither is listed as complete, and each let go of the lock: the next put runs.
    const list = spawnSync(enigmaBin, [...g, "list", "--json"], { env: env(), encoding: "utf8" })
    const complete = (JSON.parse(list.stdout) as Array<{ name?: string; status?: string }>).filter((e) => e.name?.startsWith("stopped-") && e.status === "complete")
    assert.deepStrictEqual(complete, [])
    const after = spawnSync(enigmaBin, [...g, "put", "after", "--summary", "none"], { env: env({ PATH: oldPath }), input: "x" })
    assert.strictEqual(after.status, 0, after.stderr.toString())
  })

  it.skipIf(olderNode === undefined)("under an older Node, a launcher killed outright (SIGKILL) does not leave the Node 24 process running: it stops, the lock let go", async () => {
    const oldPath = `${path.dirname(olderNode!)}${path.delimiter}${process.env.PATH ?? ""}`
    const { g } = initRepo()
    // stdin a pipe whose writer outlives the launcher (a pipe of ours would close with it, and the
    // put would end at its EOF): only the launcher's death can end the put.
    const writer = spawn("sleep", ["120"], { stdio: ["ignore", "pipe", "ignore"] })
    const launcher = spawn(enigmaBin, [...g, "put", "orphaned", "--summary", "none"], { env: env({ PATH: oldPath }), stdio: [writer.stdout, "ignore", "ignore"] })
    // The Node 24 process, once the launcher has started it and it holds the lock.
    const childOf = (pid: number) => {
      try {
        return Number(readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(" ")[0]) || undefined
      } catch {
        return undefined
      }
    }
    const locks = path.join(g[1], "storage", "locks")
    const started = Date.now()
    while (!(existsSync(locks) && readdirSync(locks).length > 0) && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 50))
    const child = childOf(launcher.pid!)
    assert.isDefined(child)
    launcher.kill("SIGKILL")
    const alive = (pid: number) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.startsWith("Z")
    const killedAt = Date.now()
    while (alive(child!) && Date.now() - killedAt < 20_000) await new Promise((r) => setTimeout(r, 100))
    const stillRunning = alive(child!)
    if (stillRunning) process.kill(child!, "SIGKILL")
    writer.kill()
    assert.isFalse(stillRunning, "the Node 24 process still runs 20 s after its launcher was killed")
    const after = spawnSync(enigmaBin, [...g, "put", "after", "--summary", "none"], { env: env(), input: "x" })
    assert.strictEqual(after.status, 0, after.stderr.toString())
  })

  it.skipIf(olderNode === undefined)("under an older Node with no Node 24 installed beside it: one line saying what to do, exit 1", () => {
    // A copy of dist/ where no node_modules can be found above it.
    const dist = path.join(tempDir("enigma-launcher-"), "dist")
    cpSync(path.dirname(enigmaBin), dist, { recursive: true })
    const r = spawnSync(olderNode!, [path.join(dist, "enigma.mjs"), "--version"], { encoding: "utf8" })
    assert.strictEqual(r.status, 1)
    assert.strictEqual(r.stdout, "")
    assert.match(r.stderr, /^enigma: needs Node\.js 24\.7 or later, and this is Node\.js \d+\.\d+\.\d+; run it as `npx enigma`/)
    assert.strictEqual(r.stderr.trim().split("\n").length, 1)
  })
})
