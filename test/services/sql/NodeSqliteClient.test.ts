import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Stream } from "effect"
import { Migrator, SqlClient, SqlError } from "effect/sql"
import * as NodeSqliteClient from "../../../src/services/sql/NodeSqliteClient.ts"

const dir = mkdtempSync(join(tmpdir(), "enigma-sql-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let counter = 0
const freshFile = () => join(dir, `db-${counter++}.sqlite`)

/** A fresh database file with the client and raw handle provided. */
const withDb = <A, E, R>(self: Effect.Effect<A, E, R>, filename = freshFile()) =>
  Effect.provide(self, NodeSqliteClient.layer({ filename }))

const createItems = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, flag INTEGER, data BLOB)`
})

const names = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ name: string }>`SELECT name FROM items ORDER BY id`
  return rows.map((r) => r.name)
})

describe("NodeSqliteClient", () => {
  it.effect("creates, inserts with params and sql.insert, and selects", () =>
    withDb(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* createItems
      const bytes = new Uint8Array([1, 2, 3])
      yield* sql`INSERT INTO items (id, name, flag, data) VALUES (${1}, ${"a"}, ${true}, ${bytes})`
      yield* sql`INSERT INTO items ${sql.insert([{ id: 2, name: "b", flag: false, data: null }, { id: 3, name: "c", flag: 1n, data: null }])}`

      const row = yield* sql<{ id: number; name: string; flag: number; data: Uint8Array }>`SELECT * FROM items WHERE name = ${"a"}`
      assert.strictEqual(row.length, 1)
      assert.strictEqual(row[0]!.flag, 1)
      assert.deepStrictEqual(Array.from(row[0]!.data), [1, 2, 3])
      assert.deepStrictEqual(yield* names, ["a", "b", "c"])
      assert.deepStrictEqual(yield* sql`SELECT id, flag FROM items WHERE id IN ${sql.in([2, 3])} ORDER BY id`.values, [[2, 0], [3, 1]])

      const streamed = yield* sql<{ id: number }>`SELECT id FROM items ORDER BY id`.stream.pipe(Stream.runCollect)
      assert.deepStrictEqual(Array.from(streamed, (r) => r.id), [1, 2, 3])
    })))

  it.effect("opens with WAL, synchronous=FULL, busy_timeout and foreign keys", () =>
    withDb(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [journal] = yield* sql<{ journal_mode: string }>`PRAGMA journal_mode`
      const [sync] = yield* sql<{ synchronous: number }>`PRAGMA synchronous`
      const [busy] = yield* sql<{ timeout: number }>`PRAGMA busy_timeout`
      const [fk] = yield* sql<{ foreign_keys: number }>`PRAGMA foreign_keys`
      assert.strictEqual(journal!.journal_mode, "wal")
      assert.strictEqual(sync!.synchronous, 2)
      assert.strictEqual(busy!.timeout, 15000)
      assert.strictEqual(fk!.foreign_keys, 1)
    })))

  it.effect("streams in batches, and an abandoned stream releases its read snapshot", () =>
    Effect.gen(function*() {
      const filename = freshFile()
      const a = Context.get(yield* Layer.build(NodeSqliteClient.layer({ filename })), SqlClient.SqlClient)
      const b = Context.get(yield* Layer.build(NodeSqliteClient.layer({ filename })), SqlClient.SqlClient)
      yield* a`CREATE TABLE n (v INTEGER)`
      yield* a`WITH RECURSIVE s(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM s WHERE v < 1000) INSERT INTO n SELECT v FROM s`
      const all = yield* a<{ v: number }>`SELECT v FROM n ORDER BY v`.stream.pipe(Stream.runCollect)
      assert.strictEqual(all.length, 1000)
      assert.strictEqual(all[999]!.v, 1000)

      const firstTwo = yield* a<{ v: number }>`SELECT v FROM n ORDER BY v`.stream.pipe(Stream.take(2), Stream.runCollect)
      assert.deepStrictEqual(Array.from(firstTwo, (r) => r.v), [1, 2])
      yield* b`INSERT INTO n (v) VALUES (${1001})`
      // An unreset cursor on `a` would pin the WAL and make a full checkpoint report busy = 1.
      const [checkpoint] = yield* b<{ busy: number }>`PRAGMA wal_checkpoint(TRUNCATE)`
      assert.strictEqual(checkpoint!.busy, 0)
    }))

  it.effect("withTransaction commits, and rolls back on failure", () =>
    withDb(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* createItems
      yield* sql`INSERT INTO items ${sql.insert({ id: 1, name: "committed" })}`.pipe(sql.withTransaction)

      const failed = yield* Effect.gen(function*() {
        yield* sql`INSERT INTO items ${sql.insert({ id: 2, name: "rolled-back" })}`
        return yield* Effect.fail("boom" as const)
      }).pipe(sql.withTransaction, Effect.flip)
      assert.strictEqual(failed, "boom")
      assert.deepStrictEqual(yield* names, ["committed"])

      // a nested failure rolls back only its savepoint
      yield* Effect.gen(function*() {
        yield* sql`INSERT INTO items ${sql.insert({ id: 3, name: "outer" })}`
        yield* sql`INSERT INTO items ${sql.insert({ id: 4, name: "inner" })}`.pipe(
          Effect.andThen(Effect.fail("inner")),
          sql.withTransaction,
          Effect.ignore
        )
      }).pipe(sql.withTransaction)
      assert.deepStrictEqual(yield* names, ["committed", "outer"])
    })))

  it.effect("maps constraint violations onto SqlError reasons, keeping SQLite's message", () =>
    withDb(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* createItems
      yield* sql`INSERT INTO items ${sql.insert({ id: 1, name: "a" })}`

      const unique = yield* Effect.flip(sql`INSERT INTO items ${sql.insert({ id: 2, name: "a" })}`)
      assert.isTrue(SqlError.isSqlError(unique))
      assert.strictEqual(unique.reason._tag, "UniqueViolation")
      assert.include(unique.message, "UNIQUE constraint failed: items.name")
      assert.strictEqual((unique.reason as SqlError.UniqueViolation).constraint, "items.name")
      assert.isFalse(unique.isRetryable)

      const pk = yield* Effect.flip(sql`INSERT INTO items ${sql.insert({ id: 1, name: "b" })}`)
      assert.strictEqual(pk.reason._tag, "UniqueViolation")

      yield* sql`CREATE TABLE refs (item INTEGER NOT NULL REFERENCES items(id))`
      const fk = yield* Effect.flip(sql`INSERT INTO refs (item) VALUES (${99})`)
      assert.strictEqual(fk.reason._tag, "ConstraintError")
      assert.include(fk.message, "FOREIGN KEY constraint failed")

      const syntax = yield* Effect.flip(sql`SELEC 1`)
      assert.strictEqual(syntax.reason._tag, "SqlSyntaxError")
    })))

  it.effect("two connections on one file see each other's committed rows", () =>
    Effect.gen(function*() {
      const filename = freshFile()
      const a = Context.get(yield* Layer.build(NodeSqliteClient.layer({ filename })), SqlClient.SqlClient)
      const b = Context.get(yield* Layer.build(NodeSqliteClient.layer({ filename })), SqlClient.SqlClient)
      assert.notStrictEqual(a, b)
      yield* a`CREATE TABLE t (v TEXT)`
      yield* a`INSERT INTO t ${a.insert({ v: "from-a" })}`.pipe(a.withTransaction)
      yield* b`INSERT INTO t ${b.insert({ v: "from-b" })}`
      assert.deepStrictEqual((yield* b<{ v: string }>`SELECT v FROM t ORDER BY v`).map((r) => r.v), ["from-a", "from-b"])
      assert.deepStrictEqual((yield* a<{ v: string }>`SELECT v FROM t ORDER BY v`).map((r) => r.v), ["from-a", "from-b"])
    }))

  it.effect("a transaction takes the write lock at BEGIN; a blocked writer gets a retryable LockTimeoutError", () =>
    Effect.gen(function*() {
      const filename = freshFile()
      const a = Context.get(yield* Layer.build(NodeSqliteClient.layer({ filename })), SqlClient.SqlClient)
      const b = Context.get(yield* Layer.build(NodeSqliteClient.layer({ filename })), SqlClient.SqlClient)
      yield* a`CREATE TABLE t (v TEXT)`
      // node:sqlite is synchronous: waiting 15 s for a lock held in this same thread would just stall the test.
      yield* b`PRAGMA busy_timeout = 0`
      const error = yield* a.withTransaction(Effect.flip(b`INSERT INTO t ${b.insert({ v: "b" })}`))
      assert.strictEqual(error.reason._tag, "LockTimeoutError")
      assert.isTrue(error.isRetryable)
      assert.include(error.message, "locked")
      yield* b`INSERT INTO t ${b.insert({ v: "b" })}` // lock released with the transaction
    }))

  it.effect("fails with a SqlError when the directory does not exist", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(withDb(Effect.void, join(dir, "missing", "sub", "db.sqlite")))
      assert.isTrue(SqlError.isSqlError(error))
      assert.strictEqual(error.reason._tag, "ConnectionError")
      assert.include(error.message, "unable to open database file")
      assert.include(error.message, join("missing", "sub"))
    }))

  it.effect("fails with a SqlError when the file is not a database (read-write and read-only)", () =>
    Effect.gen(function*() {
      const filename = freshFile()
      writeFileSync(filename, "this is a text file, not a SQLite database\n".repeat(100))
      const rw = yield* Effect.flip(withDb(Effect.void, filename))
      assert.isTrue(SqlError.isSqlError(rw))
      assert.include(rw.message, "file is not a database")
      const ro = yield* Effect.flip(Effect.provide(Effect.void, NodeSqliteClient.layer({ filename, readonly: true })))
      assert.isTrue(SqlError.isSqlError(ro))
      assert.include(ro.message, "file is not a database")
    }))

  it.effect("read-only layer reads, and refuses writes with a typed error", () =>
    Effect.gen(function*() {
      const filename = freshFile()
      yield* withDb(Effect.andThen(createItems, SqlClient.SqlClient.use((sql) => sql`INSERT INTO items ${sql.insert({ id: 1, name: "a" })}`)), filename)
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        assert.deepStrictEqual(yield* names.pipe(sql.withTransaction), ["a"])
        const error = yield* Effect.flip(sql`INSERT INTO items ${sql.insert({ id: 2, name: "b" })}`)
        assert.strictEqual(error.reason._tag, "AuthorizationError")
        assert.include(error.message, "readonly")
      }).pipe(Effect.provide(NodeSqliteClient.layer({ filename, readonly: true })))
    }))

  it.effect("the raw SqliteDatabase handle joins withTransaction and rolls back with it", () =>
    withDb(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { db } = yield* NodeSqliteClient.SqliteDatabase
      yield* createItems

      const bulk = (prefix: string) =>
        Effect.gen(function*() {
          assert.isTrue(db.isTransaction)
          const insert = db.prepare("INSERT INTO items (name) VALUES (?)")
          for (let i = 0; i < 100; i++) insert.run(`${prefix}-${i}`)
        })

      yield* bulk("kept").pipe(sql.withTransaction)
      const error = yield* bulk("dropped").pipe(Effect.andThen(Effect.fail("abort" as const)), sql.withTransaction, Effect.flip)
      assert.strictEqual(error, "abort")
      assert.isFalse(db.isTransaction)
      const [count] = yield* sql<{ n: number }>`SELECT count(*) AS n FROM items`
      assert.strictEqual(count!.n, 100)
      const [dropped] = yield* sql<{ n: number }>`SELECT count(*) AS n FROM items WHERE name LIKE 'dropped-%'`
      assert.strictEqual(dropped!.n, 0)
    })))

  it.effect("effect/sql's Migrator runs against the adapter, once", () =>
    Effect.gen(function*() {
      const filename = freshFile()
      const migrate = Migrator.make({})({
        loader: Migrator.fromRecord({
          "1_create_items": createItems,
          "2_seed": SqlClient.SqlClient.use((sql) => sql`INSERT INTO items ${sql.insert({ id: 1, name: "seed" })}`)
        })
      })
      const first = yield* withDb(migrate, filename)
      assert.deepStrictEqual(first, [[1, "create_items"], [2, "seed"]])
      // a second process opening the same file finds nothing left to do
      const second = yield* withDb(migrate, filename)
      assert.deepStrictEqual(second, [])
      assert.deepStrictEqual(yield* withDb(names, filename), ["seed"])
    }))
})
