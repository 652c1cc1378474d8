import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { projectionTables } from "../../../src/services/manifest/Projection.ts"
import { EventLog } from "../../../src/services/manifest/EventLog.ts"
import * as NodeSqliteClient from "../../../src/services/sql/NodeSqliteClient.ts"
import { enigma, enigmaPipe, initRepo, json, makeTree, prng, tempDir } from "../../support/cli.ts"

const logLayer = (filename: string) =>
  EventLog.layerNoDeps.pipe(Layer.provideMerge(NodeSqliteClient.layer({ filename })))

/** Every projection table's rows, in a stable order. */
const dumpProjections = Effect.gen(function*() {
  const { db } = yield* NodeSqliteClient.SqliteDatabase
  const out: Record<string, unknown> = {}
  for (const t of projectionTables) out[t] = db.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all()
  return out
})

describe("EventLog", () => {
  it.effect("replaying the log of a real repository into empty tables rebuilds identical projections", () =>
    Effect.gen(function*() {
      // A history with everything in it: backups, an incremental one relabelled, a forget, gc, a key rotation,
      // streams (one sharing chunks with another, one forgotten).
      const { root, dir, g } = initRepo()
      const src = path.join(root, "data")
      makeTree(src)
      const first = json(enigma([...g, "backup", src, "--json"]))
      writeFileSync(path.join(src, "docs", "new.txt"), prng(5)(200_000))
      json(enigma([...g, "backup", src, "--json", "--tag", "daily"]))
      assert.strictEqual(enigma([...g, "tag", "latest", "--add", "pinned"]).code, 0)
      assert.strictEqual(enigma([...g, "key", "rotate"]).code, 0)
      assert.strictEqual(enigma([...g, "forget", first.backupId]).code, 0)
      const dump = prng(6)(600_000)
      assert.strictEqual(enigmaPipe([...g, "put", "s1", "--tag", "k=v"], dump).code, 0)
      assert.strictEqual(enigmaPipe([...g, "put", "s2"], Buffer.concat([dump, dump])).code, 0)
      assert.strictEqual(enigmaPipe([...g, "put", "s3"], prng(7)(300_000)).code, 0)
      assert.strictEqual(enigma([...g, "forget", "s3"]).code, 0)
      assert.strictEqual(enigma([...g, "gc"]).code, 0)

      yield* Effect.gen(function*() {
        const log = yield* EventLog
        const before = yield* dumpProjections
        assert.isAbove((before.files as Array<unknown>).length, 10)
        assert.isAbove((before.chunks as Array<unknown>).length, 0)
        assert.strictEqual((before.streams as Array<unknown>).length, 2)
        assert.deepStrictEqual((before.backups as Array<{ tags: string }>).map((b) => b.tags), [JSON.stringify(["daily", "pinned"])])
        assert.isAbove((before.stream_chunks as Array<unknown>).length, 1)
        yield* log.rebuildProjections
        const after = yield* dumpProjections
        assert.deepStrictEqual(after, before)
      }).pipe(Effect.provide(logLayer(path.join(dir, "enigma.db"))))
    }))

  it.effect("concurrent appends get consecutive sequence numbers and are all durable (group commit)", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      mkdirSync(dir, { recursive: true })
      const file = path.join(dir, "log.db")
      yield* Effect.gen(function*() {
        const log = yield* EventLog
        const ends = yield* Effect.forEach(Array.from({ length: 200 }, (_, i) => i), (i) =>
          log.append([
            { _tag: "ChunkStored", id: i.toString(16).padStart(64, "0"), size: i, storedSize: i + 34, compressed: false, keyId: 1, placement: ["local"] },
            { _tag: "ChunkDeleted", id: i.toString(16).padStart(64, "0") }
          ]), { concurrency: "unbounded" })
        assert.deepStrictEqual([...ends].sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => 2 * (i + 1)))
        const events = yield* log.eventsAfter(0)
        assert.strictEqual(events.length, 400)
        assert.deepStrictEqual(events.map((e) => e.seq), Array.from({ length: 400 }, (_, i) => i + 1))
      }).pipe(Effect.provide(logLayer(file)))
      // A second connection (another process would do the same) sees all of it.
      yield* Effect.gen(function*() {
        assert.strictEqual(yield* (yield* EventLog).lastSeq, 400)
      }).pipe(Effect.provide(logLayer(file)))
    }))

  it.effect("recorded entries beyond the backlog wait for the writer, so a fast producer cannot pile up a whole backup in memory", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const file = path.join(dir, "log.db")
      yield* Effect.gen(function*() {
        const log = yield* EventLog
        const backupId = "00000000000000aa"
        yield* log.append([{ _tag: "BackupStarted", backupId, at: 1, host: "h", paths: ["/d"] }])
        const entry = (i: number) => ({ path: `d/f${i}`, kind: "file" as const, mode: 0o644, mtimeMs: 1, size: 0, ino: i, ctimeMs: 1, extents: [] })
        // 100 events of 512 files, recorded back to back (recording never yields by itself): 51,200
        // entries, three times the backlog. The 33rd had to wait until the writer took the first
        // 32; the 65th until it had committed them and taken the next.
        for (let e = 0; e < 100; e++) {
          yield* log.record([{ _tag: "FilesRecorded", backupId, files: Array.from({ length: 512 }, (_, i) => entry(e * 512 + i)) }])
        }
        const committedWhileRecording = yield* log.lastSeq
        assert.isAtLeast(committedWhileRecording, 1 + 32)
        assert.isBelow(committedWhileRecording, 101)
        // Nothing is lost or reordered: an append returns once everything recorded before it is durable.
        yield* log.append([{ _tag: "BackupCommitted", backupId, at: 2, stats: { files: 51_200, dirs: 0, symlinks: 0, bytes: 0, bytesRead: 0, newChunks: 0, newBytes: 0, storedNewBytes: 0, durationMs: 1, warnings: 0 } }])
        const events = yield* log.eventsAfter(0)
        assert.strictEqual(events.length, 102)
        assert.deepStrictEqual(events.map((e) => e.seq), Array.from({ length: 102 }, (_, i) => i + 1))
        const { db } = yield* NodeSqliteClient.SqliteDatabase
        assert.strictEqual((db.prepare("SELECT COUNT(*) AS n FROM files WHERE backup_id = ?").get(backupId) as { n: number }).n, 51_200)
      }).pipe(Effect.provide(logLayer(file)))
    }))
})
