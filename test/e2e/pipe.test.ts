import { assert, describe, it } from "@effect/vitest"
import { spawn, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { DatabaseSync } from "node:sqlite"
import { enigma, enigmaBin, enigmaPipe, initRepo, json, passphrase, prng } from "../support/cli.ts"

/** Small content-defined chunks, so a few MiB make many chunks. */
const smallChunks = "[enigma.chunk_strategy.Cdc]\ntarget_size = 65536\n"

const chunkFiles = (dir: string) =>
  !existsSync(path.join(dir, "storage", "chunks")) ? [] : readdirSync(path.join(dir, "storage", "chunks"), { recursive: true }).map(String).filter((n) => n.length > 60)
    .map((n) => path.join(dir, "storage", "chunks", n))

const summaryOf = (stderr: string) => JSON.parse(stderr.trim().split("\n").pop()!)

/** Text that looks like a database dump: repetitive, compressible, with shifting numbers. */
const dumpText = (rows: number, seed = 0) => {
  const lines: Array<string> = []
  for (let i = 0; i < rows; i++) lines.push(`INSERT INTO orders VALUES (${i}, 'customer-${(i * 7919 + seed) % 10007}', ${(i * 31) % 997}.${i % 100}, '2026-11-${(i % 28) + 1}');`)
  return Buffer.from(lines.join("\n") + "\n")
}

/** Stream rows logged so far (read-only look at the manifest, to time a kill -9). */
/** The chunk ids a stream's log references, in order (empty when the database cannot be read yet). */
const loggedChunkIds = (dir: string, name: string): Array<string> => {
  const db = new DatabaseSync(path.join(dir, "enigma.db"), { readOnly: true })
  try {
    const rows = db.prepare("SELECT c.chunk_id AS id FROM stream_chunks c JOIN streams s ON s.id = c.stream_id WHERE s.name = ? ORDER BY c.idx").all(name) as Array<{ id: string }>
    return rows.map((r) => r.id)
  } finally {
    db.close()
  }
}

const loggedChunks = (dir: string, name: string) => {
  try {
    const db = new DatabaseSync(path.join(dir, "enigma.db"), { readOnly: true })
    try {
      const row = db.prepare("SELECT COUNT(*) AS n FROM stream_chunks c JOIN streams s ON s.id = c.stream_id WHERE s.name = ?").get(name) as { n: number }
      return Number(row.n)
    } finally {
      db.close()
    }
  } catch {
    return 0
  }
}

/** Starts `cat file | enigma put name` and kill -9s enigma once `atChunks` chunks are in the log. */
const putAndKill = async (g: ReadonlyArray<string>, dir: string, file: string, name: string, atChunks: number, extra: ReadonlyArray<string> = []) => {
  const child = spawn("bash", ["-c", `cat "${file}" | exec "${process.execPath}" "${enigmaBin}" ${[...g, ...extra, "put", name].join(" ")}`], {
    env: { ...process.env, ENIGMA_PASSPHRASE: passphrase },
    stdio: ["ignore", "ignore", "pipe"],
    detached: true
  })
  let stderr = ""
  child.stderr.on("data", (d) => (stderr += d))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  const deadline = Date.now() + 60_000
  while (loggedChunks(dir, name) < atChunks) {
    if (Date.now() > deadline) throw new Error(`put never logged ${atChunks} chunks: ${stderr}`)
    if (child.exitCode !== null) throw new Error(`put ended before the kill (exit ${child.exitCode}): ${stderr}`)
    await new Promise((r) => setTimeout(r, 20))
  }
  process.kill(-child.pid!, "SIGKILL")
  await exited
}

describe("pipe mode: put / get", () => {
  it("round-trips 0 bytes, 1 byte, exactly one chunk, many chunks, random and text", () => {
    const { dir, g } = initRepo([], smallChunks)
    const cases: Array<[string, Buffer, ReadonlyArray<string>]> = [
      ["empty", Buffer.alloc(0), []],
      ["one-byte", Buffer.from([42]), []],
      ["one-chunk", prng(3)(65536), ["--chunk-size", "64K"]],
      ["random", prng(4)(3 * 1024 * 1024 + 17), []],
      ["text", dumpText(40_000), []]
    ]
    for (const [name, data, flags] of cases) {
      const put = enigmaPipe([...g, "put", name, "--summary", "json", ...flags], data)
      assert.strictEqual(put.code, 0, put.stderr)
      const s = summaryOf(put.stderr)
      assert.strictEqual(s.bytes, data.length)
      if (name === "one-chunk") assert.strictEqual(s.chunks, 1)
      if (name === "random") assert.isAbove(s.chunks, 20)
      const got = enigmaPipe([...g, "get", name])
      assert.strictEqual(got.code, 0, got.stderr)
      assert.isTrue(got.stdout.equals(data), `${name}: bytes differ`)
    }
    const list = json(enigma([...g, "list", "--json"])).filter((e: { type: string }) => e.type === "stream")
    assert.deepStrictEqual(list.map((s: { name: string }) => s.name), cases.map((c) => c[0]))
    assert.strictEqual(list.find((s: { name: string }) => s.name === "one-chunk").chunking, "fixed:65536")
    // --prefix filters streams by name, as s3duct's list does.
    const ones = json(enigma([...g, "list", "--prefix", "one-", "--json"]))
    assert.deepStrictEqual(ones.map((s: { name: string }) => s.name), ["one-byte", "one-chunk"])
    const none = enigma([...g, "list", "--prefix", "zzz"])
    assert.strictEqual(none.code, 0)
    assert.strictEqual(none.stdout.trim(), "no streams named zzz…")
    assert.isAbove(chunkFiles(dir).length, 20)
  })

  it("keeps tags, refuses a name in use, forgets by name and gc reclaims the chunks", () => {
    const { dir, g } = initRepo([], smallChunks)
    const data = prng(5)(1024 * 1024)
    assert.strictEqual(enigmaPipe([...g, "put", "db", "--tag", "env=prod", "--tag", "app=shop"], data).code, 0)
    const entry = json(enigma([...g, "list", "--json"])).find((e: { name?: string }) => e.name === "db")
    assert.deepStrictEqual(entry.tags, { env: "prod", app: "shop" })
    assert.strictEqual(entry.status, "complete")

    const again = enigmaPipe([...g, "put", "db"], prng(6)(1000))
    assert.strictEqual(again.code, 1)
    assert.match(again.stderr, /^enigma: stream db already exists .*enigma forget db/)
    assert.isTrue(enigmaPipe([...g, "get", "db"]).stdout.equals(data), "the committed stream is untouched")

    const before = chunkFiles(dir).length
    assert.strictEqual(enigma([...g, "forget", "db"]).code, 0)
    assert.strictEqual(enigmaPipe([...g, "get", "db"]).code, 1)
    const gc = json(enigma([...g, "gc", "--json"]))
    assert.strictEqual(gc.deletedChunks.length, before)
    assert.strictEqual(chunkFiles(dir).length, 0)
  })

  it("a stream named like a backup (latest, an id's prefix): verify, thaw and forget refuse to guess; the full id means the backup, --stream the stream", () => {
    const { root, g } = initRepo([], smallChunks)
    const src = path.join(root, "data")
    mkdirSync(src)
    writeFileSync(path.join(src, "f"), "file")
    const backupId = json(enigma([...g, "backup", src, "--json"])).backupId as string
    const prefix = backupId.slice(0, 6)
    for (const name of ["latest", prefix]) assert.strictEqual(enigmaPipe([...g, "put", name], prng(8)(2000)).code, 0)
    for (const name of ["latest", prefix]) {
      for (const args of [["forget", name], ["forget", name, "--dry-run"], ["verify", name], ["thaw", name]]) {
        const r = enigma([...g, ...args])
        assert.strictEqual(r.code, 1, `${args.join(" ")}: ${r.stderr}`)
        assert.match(r.stderr, new RegExp(`^enigma: ${name} names both a stream and (the newest backup, )?(backup )?${backupId}: give the backup's full id \\(${backupId}\\) for the backup, or --stream for the stream\n$`))
      }
    }
    assert.strictEqual(json(enigma([...g, "list", "--json"])).length, 3, "nothing forgotten")
    assert.strictEqual(enigma([...g, "verify", "latest", "--stream"]).code, 0)
    assert.strictEqual(enigma([...g, "verify", backupId]).code, 0)
    const forgotten = json(enigma([...g, "forget", "--stream", "latest", prefix, "--json"]))
    assert.deepStrictEqual([...forgotten.removedStreams].sort(), [prefix, "latest"].sort())
    assert.strictEqual(json(enigma([...g, "list", "--json"])).length, 1, "the backup stays")
    const missing = enigma([...g, "forget", "--stream", "nope"])
    assert.strictEqual(missing.code, 1)
    assert.match(missing.stderr, /stream nope/)
  })

  it("a second put of a nearly identical dump stores only the changed chunks", () => {
    const { g } = initRepo([], smallChunks)
    const day1 = dumpText(200_000)
    const day2 = Buffer.concat([day1.subarray(0, 5_000_000), Buffer.from("UPDATE orders SET x = 1;\n"), day1.subarray(5_000_000)])
    const first = summaryOf(enigmaPipe([...g, "put", "day1", "--summary", "json"], day1).stderr)
    const second = summaryOf(enigmaPipe([...g, "put", "day2", "--summary", "json"], day2).stderr)
    assert.isAbove(first.chunks, 50)
    assert.isAtMost(second.uploadedChunks, 3)
    assert.isAtLeast(second.dedupChunks, second.chunks - 3)
    assert.isTrue(enigmaPipe([...g, "get", "day2"]).stdout.equals(day2))
  })

  it("kill -9 mid-put, twice: each resume checks the logged chunks instead of uploading them, gc keeps them", async () => {
    const { root, dir, g } = initRepo([], smallChunks)
    const file = path.join(root, "dump.bin")
    const data = prng(7)(48 * 1024 * 1024)
    writeFileSync(file, data)
    const slow = ["--limit-upload", "6M"]
    await putAndKill(g, dir, file, "dump", 60, slow)
    // The interrupted stream is listed as such, cannot be read, and gc must not reclaim it.
    const listed = json(enigma([...g, "list", "--json"])).find((e: { name?: string }) => e.name === "dump")
    assert.strictEqual(listed.status, "interrupted")
    const early = enigmaPipe([...g, "get", "dump"])
    assert.strictEqual(early.code, 1)
    assert.match(early.stderr, /stream dump is incomplete.*run the same put again/)
    // verify checks the chunks stored so far, but does not call an incomplete stream sound.
    const checked = enigma([...g, "verify", "dump"])
    assert.strictEqual(checked.code, 1, checked.stdout + checked.stderr)
    assert.match(checked.stdout, /^stream dump: the \d+ chunks stored so far: present, chain intact\nstream dump is incomplete: its put was interrupted after \d+ bytes; run the same put again/)
    // status counts it apart: not logical data yet, but holding its chunks.
    const status = json(enigma([...g, "status", "--json"]))
    assert.deepStrictEqual([status.streams, status.logicalBytes, status.interruptedStreams], [0, 0, 1])
    assert.strictEqual(status.interruptedBytes, Number(/interrupted after (\d+) bytes/.exec(checked.stdout)![1]))
    assert.strictEqual(enigma([...g, "unlock"]).code, 0)
    // gc keeps every logged chunk. A chunk stored just before the kill but not yet logged (pieces
    // upload concurrently and are logged in order) is referenced by nothing, and may go.
    const keep = loggedChunkIds(dir, "dump")
    assert.isAtLeast(keep.length, 60)
    const deleted: Array<string> = json(enigma([...g, "gc", "--json"])).deletedChunks
    assert.deepStrictEqual(deleted.filter((id) => keep.includes(id)), [])
    assert.isAtMost(deleted.length, 8, "only a few: the pieces that were in flight")

    await putAndKill(g, dir, file, "dump", 200, slow)
    const logged = loggedChunks(dir, "dump")
    const inodes = new Map(chunkFiles(dir).map((f) => [f, statSync(f).ino]))
    const resumed = spawnSync("bash", ["-c", `cat "${file}" | "${process.execPath}" "${enigmaBin}" ${g.join(" ")} put dump --summary json`], {
      env: { ...process.env, ENIGMA_PASSPHRASE: passphrase },
      encoding: "utf8"
    })
    assert.strictEqual(resumed.status, 0, resumed.stderr)
    assert.match(resumed.stderr, /resuming the interrupted put of dump: \d+ chunks/)
    const s = summaryOf(resumed.stderr)
    assert.strictEqual(s.resumedChunks, logged)
    // Everything not in the log was stored now, nothing else: uploaded, or found already stored
    // (a piece in flight at the kill can be stored and recorded before its place in the stream is
    // logged; the resume then deduplicates it).
    assert.strictEqual(s.uploadedChunks + s.dedupChunks, s.chunks - logged, "everything not in the log was stored, nothing else")
    assert.isAtMost(s.dedupChunks, 8, "only the pieces in flight at the kill")
    // Chunk objects of logged chunks were not written again (a rewrite renames a new file in).
    const rewritten = [...inodes].filter(([f, ino]) => statSync(f).ino !== ino).length
    assert.isAtMost(rewritten, inodes.size - logged)
    const got = enigmaPipe([...g, "get", "dump"])
    assert.strictEqual(got.code, 0, got.stderr)
    assert.isTrue(got.stdout.equals(data))
    assert.match(enigma([...g, "verify", "dump"]).stdout, /^stream dump: \d+ chunks present, chain intact; no errors$/m)
    assert.strictEqual(createHash("sha256").update(got.stdout).digest("hex"), createHash("sha256").update(readFileSync(file)).digest("hex"))
  })

  it("a resume with different or shorter input fails (or, with --no-strict-resume, stores the shorter input)", async () => {
    const { root, dir, g } = initRepo([], smallChunks)
    const file = path.join(root, "dump.bin")
    const data = prng(8)(24 * 1024 * 1024)
    writeFileSync(file, data)
    await putAndKill(g, dir, file, "dump", 80, ["--limit-upload", "6M"])
    const logged = loggedChunks(dir, "dump")

    const other = enigmaPipe([...g, "put", "dump"], prng(9)(2 * 1024 * 1024))
    assert.strictEqual(other.code, 1)
    assert.match(other.stderr, /^enigma: the input differs from the interrupted put of dump at chunk 0 \(byte 0\).*enigma forget dump/m, other.stderr)

    // Other bytes, shorter than the first chunk logged: not a truncated input either, even with --no-strict-resume.
    for (const args of [[], ["--no-strict-resume"]]) {
      const tiny = enigmaPipe([...g, "put", "dump", ...args], prng(9)(1000))
      assert.strictEqual(tiny.code, 1, tiny.stderr)
      assert.match(tiny.stderr, /^enigma: the input differs from the interrupted put of dump at chunk 0 \(byte 0\): its bytes are not those stored there/m, tiny.stderr)
    }
    assert.strictEqual(loggedChunks(dir, "dump"), logged, "a failed resume changes nothing")

    const short = data.subarray(0, 1024 * 1024)
    const strict = enigmaPipe([...g, "put", "dump"], short)
    assert.strictEqual(strict.code, 1)
    assert.match(strict.stderr, /^enigma: the input ended after \d+ bytes, but the interrupted put of dump had already stored \d+ bytes.*--no-strict-resume/m)
    assert.strictEqual(loggedChunks(dir, "dump"), logged, "a failed resume changes nothing")

    const loose = enigmaPipe([...g, "put", "dump", "--no-strict-resume", "--summary", "json"], short)
    assert.strictEqual(loose.code, 0, loose.stderr)
    assert.strictEqual(summaryOf(loose.stderr).bytes, short.length)
    assert.isTrue(enigmaPipe([...g, "get", "dump"]).stdout.equals(short))
    assert.strictEqual(enigma([...g, "verify", "dump", "--read-data"]).code, 0)
  })

  it("a tampered, deleted or swapped chunk stops get before its bytes and fails verify, naming the chunk", () => {
    const { dir, g } = initRepo([], smallChunks)
    const data = prng(10)(2 * 1024 * 1024)
    assert.strictEqual(enigmaPipe([...g, "put", "s"], data).code, 0)
    assert.strictEqual(enigma([...g, "verify", "s", "--read-data"]).code, 0)
    const files = chunkFiles(dir).sort()
    const damage = (kind: string, act: () => void, undo: () => void) => {
      act()
      const got = enigmaPipe([...g, "get", "s"])
      assert.strictEqual(got.code, 1, kind)
      assert.match(got.stderr, /^enigma: stream s: chunk \d+ \([0-9a-f]{64}\): .*output stopped after \d+ bytes/, kind)
      // Whatever was written is a verified prefix of the stream, never wrong bytes.
      assert.isTrue(data.subarray(0, got.stdout.length).equals(got.stdout), `${kind}: output is not a prefix`)
      assert.isBelow(got.stdout.length, data.length)
      const v = enigma([...g, "verify", "s", "--read-data"])
      assert.strictEqual(v.code, 1, kind)
      assert.match(v.stdout, /bad chunk \d+ \([0-9a-f]{64}\) on local/, kind)
      undo()
      assert.strictEqual(enigma([...g, "verify", "s", "--read-data"]).code, 0, `${kind}: undone`)
    }
    const victim = files[3]!
    const original = readFileSync(victim)
    damage("tampered", () => {
      const bad = Buffer.from(original)
      bad[bad.length - 20]! ^= 0x01
      writeFileSync(victim, bad)
    }, () => writeFileSync(victim, original))
    damage("deleted", () => renameSync(victim, `${victim}.away`), () => renameSync(`${victim}.away`, victim))
    const other = files[5]!
    const swap = () => {
      renameSync(victim, `${victim}.x`)
      renameSync(other, victim)
      renameSync(`${victim}.x`, other)
    }
    damage("swapped", swap, swap)
    // Without --read-data, verify still notices a missing chunk.
    renameSync(victim, `${victim}.away`)
    const v = enigma([...g, "verify", "s"])
    assert.strictEqual(v.code, 1)
    assert.match(v.stdout, new RegExp(`bad chunk \\d+ \\(${path.basename(victim)}\\) on local`))
  })

  it("bad input: unknown stream, bad flags, wrong passphrase — one line, non-zero, nothing stored", () => {
    const { dir, g } = initRepo([], smallChunks)
    const cases: Array<[ReadonlyArray<string>, RegExp, number]> = [
      [["get", "nope"], /^enigma: stream nope not found: see `enigma list`/, 1],
      [["put", "x", "--chunk-size", "lots"], /^enigma: --chunk-size "lots" is not a size; use bytes like 64M/, 1],
      [["put", "x", "--chunk-size", "2G"], /^enigma: --chunk-size 2G is out of range; use between 4K and 1G/, 1],
      [["put", "x", "--tag", "novalue"], /^enigma: --tag novalue: use key=value/, 1],
      [["put", "x", "--buffer-chunks", "0"], /^enigma: --buffer-chunks must be 1 or more/, 1],
      [["put", ""], /^enigma: a stream name must be 1 to 255 characters long: ""$/m, 1],
      [["put", "a\nb"], /^enigma: a stream name must not contain control characters: "a\\nb"$/m, 1],
      // A name too long to be one is shown by its start and length, not in full.
      [["put", "n".repeat(3000)], new RegExp(`^enigma: a stream name must be 1 to 255 characters long: "${"n".repeat(60)}"… \\(3000 characters\\)$`, "m"), 1],
      [["put", "x", "--storage-class", "GLACIER"], /^enigma: --storage-class applies to S3 providers, and this repository has none/, 1],
      [["verify", "nope"], /^enigma: no stream is named nope, and "nope" is not a backup id/, 1],
      [["verify", "abcdef12"], /^enigma: stream or backup abcdef12 not found: see `enigma list` for the backups and streams/, 1],
      // forget takes stream names too: a misspelt one is not called a bad backup id alone.
      [["forget", "nope"], /^enigma: no stream is named nope, and "nope" is not a backup id/, 1],
      [["forget", "abcdef12"], /^enigma: stream or backup abcdef12 not found: see `enigma list` for the backups and streams/, 1]
    ]
    for (const [args, message, code] of cases) {
      const r = enigmaPipe([...g, ...args], Buffer.from("data"))
      assert.strictEqual(r.code, code, args.join(" "))
      assert.match(r.stderr, message, args.join(" "))
      assert.strictEqual(r.stderr.trim().split("\n").length, 1, `${args.join(" ")}: one line`)
    }
    const wrong = enigmaPipe([...g, "put", "x"], Buffer.from("data"), { ENIGMA_PASSPHRASE: "wrong" })
    assert.strictEqual(wrong.code, 12)
    // stdin a terminal (util-linux `script` gives the command a pseudo-terminal): nothing to read.
    const onTerminal = spawnSync("script", ["-qec", `"${process.execPath}" "${enigmaBin}" ${g.map((a) => `"${a}"`).join(" ")} put x`, "/dev/null"], {
      encoding: "utf8",
      env: { ...process.env, ENIGMA_PASSPHRASE: passphrase },
      stdio: ["ignore", "pipe", "pipe"]
    })
    assert.strictEqual(onTerminal.status, 1, onTerminal.stdout)
    assert.match(onTerminal.stdout, /^enigma: stdin is a terminal; pipe the data in, e\.g\. `pg_dump db \| enigma put x`\r?\n$/)
    // stdin /dev/null, as cron starts a job that forgot its pipe (and as Node leaves a closed stdin): refused, not an empty stream.
    for (const stdin of ["ignore", "devnull-closed"] as const) {
      const r = stdin === "ignore"
        ? spawnSync(process.execPath, [enigmaBin, ...g, "put", "x"], { encoding: "utf8", env: { ...process.env, ENIGMA_PASSPHRASE: passphrase }, stdio: ["ignore", "pipe", "pipe"] })
        : spawnSync("bash", ["-c", `exec "${process.execPath}" "${enigmaBin}" ${g.map((a) => `"${a}"`).join(" ")} put x <&-`], { encoding: "utf8", env: { ...process.env, ENIGMA_PASSPHRASE: passphrase } })
      assert.strictEqual(r.status, 1, r.stderr)
      assert.strictEqual(r.stderr, "enigma: stdin is /dev/null (or closed): nothing to store; pipe the data in, e.g. `pg_dump db | enigma put x` (an empty stream: `printf '' | enigma put x`)\n")
    }
    // stdin a directory (`put x < DIR`): refused before anything is recorded, not failed at the first read.
    const dirFd = openSync(dir, "r")
    const fromDir = spawnSync(process.execPath, [enigmaBin, ...g, "put", "x"], {
      encoding: "utf8",
      env: { ...process.env, ENIGMA_PASSPHRASE: passphrase },
      stdio: [dirFd, "pipe", "pipe"]
    })
    closeSync(dirFd)
    assert.strictEqual(fromDir.status, 1, fromDir.stderr)
    assert.match(fromDir.stderr, /^enigma: stdin is a directory; pipe an archive of it in, e\.g\. `tar c DIR \| enigma put x`\n$/)
    assert.deepStrictEqual(json(enigma([...g, "list", "--json"])), [])
    assert.strictEqual(chunkFiles(dir).length, 0)
  })

  it("get into a reader that stops early (| head): no error message, exit 141 as SIGPIPE gives; a full disk is still an error", () => {
    const { dir, g } = initRepo([], smallChunks)
    assert.strictEqual(enigmaPipe([...g, "put", "big"], prng(41)(8 * 1024 * 1024)).code, 0)
    const run = (tail: string) =>
      spawnSync("bash", ["-c", `"${process.execPath}" "${enigmaBin}" --config-dir "${dir}" get big ${tail}; echo "status \${PIPESTATUS[0]}" >&2`], {
        encoding: "utf8",
        env: { ...process.env, ENIGMA_PASSPHRASE: passphrase }
      })
    const head = run("| head -c 10 > /dev/null")
    assert.strictEqual(head.stderr, "status 141\n")
    const full = run("> /dev/full")
    assert.match(full.stderr, /^enigma: writing the output failed: ENOSPC: no space left on device, write\nstatus 1\n$/)
  })

  it("put --from-command stores what the command prints only if it exits 0: a dump that fails halfway is not stored complete", () => {
    const { root, g } = initRepo([], smallChunks)
    const script = path.join(root, "dump.sh")
    // A "dump" of 300 KB of text, then an exit code of its choosing.
    writeFileSync(script, `i=0; while [ $i -lt 10000 ]; do echo "row $i of the dump, padded out"; i=$((i+1)); done; exit \${1:-0}\n`)
    const expected = Buffer.from(Array.from({ length: 10000 }, (_, i) => `row ${i} of the dump, padded out\n`).join(""))
    const ok = enigmaPipe([...g, "put", "good", "--from-command", `sh ${script}`, "--summary", "json"])
    assert.strictEqual(ok.code, 0, ok.stderr)
    assert.strictEqual(summaryOf(ok.stderr).bytes, expected.length)
    assert.isTrue(enigmaPipe([...g, "get", "good"]).stdout.equals(expected))

    const failed = enigmaPipe([...g, "put", "broken", "--from-command", `sh ${script} 3`])
    assert.strictEqual(failed.code, 1)
    assert.strictEqual(
      failed.stderr.trim(),
      "enigma: reading the input failed: --from-command exited with code 3; stream broken was not stored complete: run the put again, or `enigma forget broken` to drop what was stored"
    )
    const listed = (json(enigma([...g, "list", "--json"])) as Array<{ name?: string; status?: string }>).filter((e) => e.name === "broken")
    assert.deepStrictEqual(listed.map((e) => e.status), ["interrupted"])
    assert.strictEqual(enigmaPipe([...g, "get", "broken"]).code, 1)
    // Run again, and this time it succeeds: the put resumes and stores it complete.
    const again = enigmaPipe([...g, "put", "broken", "--from-command", `sh ${script}`])
    assert.strictEqual(again.code, 0, again.stderr)
    assert.match(again.stderr, /^resuming the interrupted put of broken/)
    assert.isTrue(enigmaPipe([...g, "get", "broken"]).stdout.equals(expected))
    const killed = enigmaPipe([...g, "put", "killed", "--from-command", "echo partial; kill -TERM $$"])
    assert.strictEqual(killed.code, 1)
    assert.match(killed.stderr, /--from-command was killed by SIGTERM; stream killed was not stored complete/)
    // The command reads this process's stdin.
    const through = enigmaPipe([...g, "put", "through", "--from-command", "tr a-z A-Z"], Buffer.from("shout this\n"))
    assert.strictEqual(through.code, 0, through.stderr)
    assert.strictEqual(enigmaPipe([...g, "get", "through"]).stdout.toString(), "SHOUT THIS\n")
    const empty = enigmaPipe([...g, "put", "empty", "--from-command", " "])
    assert.strictEqual(empty.code, 1)
    assert.match(empty.stderr.trim(), /^enigma: --from-command needs a command/)
  })

  it("--diskspace-limit drains stdin into the scratch dir while uploads lag; without it stdin waits", () => {
    const { root, g } = initRepo()
    const file = path.join(root, "in.bin")
    const data = prng(11)(12 * 1024 * 1024)
    writeFileSync(file, data)
    const scratch = path.join(root, "scratch")
    mkdirSync(scratch)
    const bin = `"${process.execPath}" "${enigmaBin}" ${g.join(" ")} --limit-upload 3M`
    // The producer notes when it has written everything; the put notes when it is done.
    const run = (name: string, flags: string) => {
      const r = spawnSync("bash", ["-c", `set -o pipefail; (cat "${file}"; date +%s%N > "${root}/${name}.produced") | ${bin} put ${name} --chunk-size 1M --buffer-chunks 1 ${flags}; date +%s%N > "${root}/${name}.stored"`], {
        env: { ...process.env, ENIGMA_PASSPHRASE: passphrase },
        encoding: "utf8"
      })
      assert.strictEqual(r.status, 0, r.stderr)
      const at = (what: string) => Number(BigInt(readFileSync(`${root}/${name}.${what}`, "utf8").trim()) / 1_000_000n)
      return at("stored") - at("produced")
    }
    const spilled = run("spilled", `--diskspace-limit 64M --scratch-dir "${scratch}"`)
    const waited = run("waited", "")
    // 12 MiB at 3 MiB/s: with spilling the producer is done seconds before the upload; without,
    // it waits for upload slots until the last few chunks.
    assert.isAbove(spilled, 2000, `spilled: producer done ${spilled} ms before the put`)
    assert.isBelow(waited, spilled - 1000, `waited: producer done ${waited} ms before the put`)
    assert.deepStrictEqual(readdirSync(scratch), [], "scratch files are removed")
    assert.isTrue(enigmaPipe([...g, "get", "spilled"]).stdout.equals(data))
    const bad = enigmaPipe([...g, "put", "x", "--diskspace-limit", "much"], Buffer.from("x"))
    assert.strictEqual(bad.code, 1)
    assert.match(bad.stderr, /^enigma: --diskspace-limit "much" is not a size/)
  }, 60_000)

  it("stdin from a regular file that grows while it is read: the bytes are stored, with a warning and exit 3", async () => {
    const { root, g } = initRepo()
    const file = path.join(root, "growing.bin")
    const first = prng(12)(4 * 1024 * 1024)
    const more = prng(13)(1024 * 1024)
    writeFileSync(file, first)
    // Uploads throttled to 1 MiB/s hold the reading back, so the append lands before the end.
    const child = spawn(process.execPath, [enigmaBin, ...g, "--limit-upload", "1M", "put", "grow", "--chunk-size", "256K", "--buffer-chunks", "1", "--summary", "json"], {
      env: { ...process.env, ENIGMA_PASSPHRASE: passphrase },
      stdio: [openSync(file, "r"), "ignore", "pipe"]
    })
    let stderr = ""
    child.stderr!.on("data", (d) => (stderr += d))
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    // Append once the first chunk is stored: by then put has taken the file's size (at start-up,
    // which can take longer than any fixed delay on a loaded machine), and the throttled rest is unread.
    const chunksDir = path.join(root, "repo", "storage", "chunks")
    for (let i = 0; i < 400 && !(existsSync(chunksDir) && readdirSync(chunksDir, { recursive: true }).some((n) => String(n).length > 60)); i++) {
      await new Promise((r) => setTimeout(r, 50))
    }
    appendFileSync(file, more)
    assert.strictEqual(await exited, 3, stderr)
    assert.match(stderr, new RegExp(`warning: stdin is a file of ${first.length} bytes but ${first.length + more.length} bytes were read`))
    assert.isTrue(enigmaPipe([...g, "get", "grow"]).stdout.equals(Buffer.concat([first, more])))
  }, 60_000)

  it("1 GiB through a pipe, put and get, compared by SHA-256", () => {
    const { root, g } = initRepo()
    const sums = path.join(root, "sums")
    const bin = `"${process.execPath}" "${enigmaBin}" ${g.join(" ")}`
    // A deterministic 1 GiB stream: 64 MiB of random bytes repeated with a counter, not all-dedup.
    const gen = `"${process.execPath}" -e 'const b=require("crypto").randomBytes(64<<20);let i=0;const w=()=>{while(i<16){b.writeUInt32BE(i,0);i++;if(!process.stdout.write(Buffer.from(b)))return process.stdout.once("drain",w)}};w()'`
    const put = spawnSync("bash", ["-c", `set -o pipefail; ${gen} | tee >(sha256sum > "${sums}.in") | ${bin} put big --summary json`], {
      env: { ...process.env, ENIGMA_PASSPHRASE: passphrase },
      encoding: "utf8"
    })
    assert.strictEqual(put.status, 0, put.stderr)
    assert.strictEqual(summaryOf(put.stderr).bytes, 1024 ** 3)
    const get = spawnSync("bash", ["-c", `set -o pipefail; ${bin} get big | sha256sum > "${sums}.out"`], {
      env: { ...process.env, ENIGMA_PASSPHRASE: passphrase },
      encoding: "utf8"
    })
    assert.strictEqual(get.status, 0, get.stderr)
    assert.strictEqual(readFileSync(`${sums}.out`, "utf8"), readFileSync(`${sums}.in`, "utf8"))
  }, 180_000)
})
