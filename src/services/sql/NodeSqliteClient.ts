/**
 * effect/sql client over `node:sqlite`.
 *
 * No published `@effect/sql-sqlite-node` runs on effect 4.1 (STYLE.md a.6), so this is our own adapter:
 * one `DatabaseSync` per layer, shared through a 1-permit semaphore by `SqlClient.makeSqliteAcquirers`.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite"
import { pathToFileURL } from "node:url"
import { Context, Effect, Layer, Option, Semaphore, Stream } from "effect"
import { Reactivity } from "effect/reactivity"
import { SqlClient, type SqlConnection, SqlError, Statement } from "effect/sql"

export interface NodeSqliteOptions {
  readonly filename: string
  readonly readonly?: boolean
  /** What a failure to open the file says (the cause and the file name), when not SQLite's words and the name. */
  readonly describeOpenFailure?: ((cause: unknown, filename: string) => string) | undefined
}

/**
 * The raw handle behind the layer's SqlClient, for hot bulk paths (prepared statements in a loop).
 * Use it only inside `sql.withTransaction` (or a `sql.reserve` scope): that holds the connection's
 * semaphore, so the raw writes join the transaction and roll back with it. Outside, it races the client.
 */
export class SqliteDatabase extends Context.Service<SqliteDatabase, { readonly db: DatabaseSync }>()(
  "enigma/services/sql/SqliteDatabase"
) {}

// Other CLI processes may hold the write lock for a while (a backup committing a large batch).
const busyTimeoutMillis = 15_000
// `sql.insert(rows)` makes one SQL text per row count, so the cache must be bounded.
const statementCacheSize = 512
const streamBatchSize = 256

const sqliteErrcode = (cause: unknown): number | undefined =>
  typeof cause === "object" && cause !== null && "errcode" in cause && typeof cause.errcode === "number"
    ? cause.errcode
    : undefined

/** SqlError.classifySqliteError does not read node:sqlite's `errcode`, so map it here. */
const toSqlError = (cause: unknown, operation: string, filename?: string): SqlError.SqlError => {
  const original = cause instanceof Error ? cause.message : String(cause)
  const props = { cause, operation, message: filename === undefined ? original : `${original}: ${filename}` }
  const errcode = sqliteErrcode(cause)
  const reason = (() => {
    switch (errcode) {
      case 1555: // SQLITE_CONSTRAINT_PRIMARYKEY
      case 2067: // SQLITE_CONSTRAINT_UNIQUE
        return new SqlError.UniqueViolation({
          ...props,
          constraint: original.replace(/^.*UNIQUE constraint failed:\s*/s, "").trim() || "unknown"
        })
      case undefined:
        return new SqlError.UnknownError(props) // not from SQLite, e.g. an unbindable parameter
    }
    switch (errcode & 0xff) { // extended codes carry the primary code in the low byte
      case 1:
        return /syntax error/.test(original) ? new SqlError.SqlSyntaxError(props) : new SqlError.UnknownError(props)
      case 3: // PERM
      case 8: // READONLY: writing through a read-only handle is a permission problem, not a transient one
        return new SqlError.AuthorizationError(props)
      case 5: // BUSY (incl. BUSY_SNAPSHOT): another process held the lock past busy_timeout; retryable
      case 6: // LOCKED
        return new SqlError.LockTimeoutError(props)
      case 14: // CANTOPEN
        return new SqlError.ConnectionError(props)
      case 19: // CONSTRAINT: FOREIGN KEY (787), NOT NULL, CHECK
        return new SqlError.ConstraintError(props)
      case 23:
        return new SqlError.AuthenticationError(props)
      default: // CORRUPT (11), FULL (13), NOTADB (26), IOERR (10): not retryable, the message says what happened
        return new SqlError.UnknownError(props)
    }
  })()
  return new SqlError.SqlError({ reason })
}

const attempt = <A>(operation: string, f: () => A, filename?: string) =>
  Effect.try({ try: f, catch: (cause) => toSqlError(cause, operation, filename) })

// node:sqlite throws on `undefined` (effect/sql passes it for missing optional fields); Node 24 binds booleans as
// 0/1 but older releases threw, so normalise both rather than depend on the runtime.
const bind = (params: ReadonlyArray<unknown>): Array<SQLInputValue> =>
  params.map((p) => (typeof p === "boolean" ? (p ? 1 : 0) : p === undefined ? null : (p as SQLInputValue)))

const openAt = (file: string | URL, readOnly: boolean): DatabaseSync => {
  // `timeout` is busy_timeout, set before the first pragma because switching to WAL can itself wait on a lock.
  const db = new DatabaseSync(file, { readOnly, timeout: busyTimeoutMillis, enableForeignKeyConstraints: true })
  try {
    // Opening is lazy: these statements also make a non-database file fail here rather than on first use.
    if (readOnly) db.prepare("SELECT count(*) FROM sqlite_schema").get()
    // synchronous=FULL: a committed backup must survive power loss, WAL's default NORMAL does not promise that.
    else db.exec(`PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=${busyTimeoutMillis}; PRAGMA foreign_keys=ON`)
  } catch (cause) {
    db.close()
    throw cause
  }
  return db
}

/** Whether `file`'s directory is on a filesystem mounted read-only (EROFS, not a permission). */
const onReadOnlyFilesystem = (file: string): boolean => {
  try {
    fs.accessSync(path.dirname(file), fs.constants.W_OK)
    return false
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EROFS"
  }
}

const open = (options: NodeSqliteOptions) =>
  Effect.acquireRelease(
    attempt("open", () => {
      try {
        return openAt(options.filename, options.readonly ?? false)
      } catch (cause) {
        // On a read-only filesystem (a backup disk mounted ro, a snapshot) WAL mode cannot make its
        // -shm file, even to read: open it read-only as it is there. Commands that read work; one
        // that writes fails at its first write, saying the database is read-only.
        const code = (sqliteErrcode(cause) ?? 0) & 0xff
        if ((code !== 14 && code !== 8) || !onReadOnlyFilesystem(options.filename)) throw cause
        // With its -wal and -shm there (a database not closed cleanly), SQLite reads it read-only as it is.
        try {
          return openAt(options.filename, true)
        } catch {
          // Without them: immutable, which reads the main file alone, unless a -wal holds writes it would miss.
        }
        if ((fs.statSync(`${options.filename}-wal`, { throwIfNoEntry: false })?.size ?? 0) > 0) throw cause
        const url = pathToFileURL(options.filename)
        url.searchParams.set("immutable", "1")
        return openAt(url, true)
      }
    }, options.filename).pipe(
      Effect.mapError((e) => {
        if (options.describeOpenFailure === undefined) return e
        const cause = e.reason.cause
        return new SqlError.SqlError({ reason: new SqlError.UnknownError({ cause, operation: "open", message: options.describeOpenFailure(cause, options.filename) }) })
      })
    ),
    (db) => Effect.sync(() => db.close())
  )

const makeConnection = (db: DatabaseSync): SqlConnection.Connection => {
  // Preparing dominates small statements on the hot paths (chunk-index lookups), so reuse them by SQL text.
  const cache = new Map<string, StatementSync>()
  const prepare = (sql: string): StatementSync => {
    let stmt = cache.get(sql)
    if (stmt === undefined) {
      stmt = db.prepare(sql)
      if (cache.size >= statementCacheSize) cache.delete(cache.keys().next().value!)
      cache.set(sql, stmt)
    }
    return stmt
  }
  // A cached statement is shared, so `returnArrays` is set on every run rather than once.
  const all = (stmt: StatementSync, params: ReadonlyArray<unknown>, arrays: boolean) => {
    stmt.setReturnArrays(arrays)
    return stmt.all(...bind(params))
  }
  type Transform = (<A extends object>(rows: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  const rows = (operation: string, stmt: () => StatementSync, params: ReadonlyArray<unknown>, transform: Transform) =>
    attempt(operation, () => {
      const result = all(stmt(), params, false)
      return transform === undefined ? result : transform(result)
    })
  return {
    execute: (sql, params, transform) => rows("execute", () => prepare(sql), params, transform),
    executeUnprepared: (sql, params, transform) => rows("executeUnprepared", () => db.prepare(sql), params, transform),
    // Raw: writes return `{ changes, lastInsertRowid }`, readers (incl. RETURNING) their rows.
    executeRaw: (sql, params) =>
      attempt("executeRaw", () => {
        const stmt = prepare(sql)
        stmt.setReturnArrays(false)
        return stmt.columns().length > 0 ? stmt.all(...bind(params)) : stmt.run(...bind(params))
      }),
    executeValues: (sql, params) =>
      attempt("executeValues", () => all(prepare(sql), params, true) as unknown as ReadonlyArray<ReadonlyArray<unknown>>),
    executeValuesUnprepared: (sql, params) =>
      attempt("executeValuesUnprepared", () => all(db.prepare(sql), params, true) as unknown as ReadonlyArray<ReadonlyArray<unknown>>),
    // A real cursor, so big tables are not materialised. Its own statement (not cached): another query with the
    // same text would reset it mid-iteration. `return()` resets it on early exit, which ends its WAL read snapshot.
    executeStream: (sql, params, transform) =>
      Stream.unwrap(Effect.map(
        Effect.acquireRelease(
          attempt("executeStream", () => db.prepare(sql).iterate(...bind(params))),
          (it) => Effect.sync(() => it.return?.())
        ),
        (it) =>
          Stream.paginate(undefined, () =>
            attempt("executeStream", () => {
              const batch: Array<object> = []
              for (let i = 0; i < streamBatchSize; i++) {
                const next = it.next()
                if (next.done === true) return [transform === undefined ? batch : transform(batch), Option.none()] as const
                batch.push(next.value)
              }
              return [transform === undefined ? batch : transform(batch), Option.some(undefined)] as const
            }))
      ))
  }
}

/** Provides effect/sql's SqlClient.SqlClient over one node:sqlite DatabaseSync, plus SqliteDatabase (the raw handle, for hot bulk paths that run prepared statements inside sql.withTransaction). */
export const layer = (options: NodeSqliteOptions): Layer.Layer<SqlClient.SqlClient | SqliteDatabase, SqlError.SqlError> =>
  Layer.effectContext(Effect.gen(function*() {
    const db = yield* open(options)
    const connection = makeConnection(db)
    const acquirers = SqlClient.makeSqliteAcquirers({
      connection: Effect.succeed(connection),
      semaphore: yield* Semaphore.make(1),
      isTransaction: () => db.isTransaction
    })
    const client = yield* SqlClient.make({
      ...acquirers,
      compiler: Statement.makeCompilerSqlite(),
      driver: "node:sqlite",
      spanAttributes: [["db.system.name", "sqlite"]],
      // IMMEDIATE takes the write lock up front. A deferred BEGIN that reads and then writes gets SQLITE_BUSY at
      // once when another process wrote meanwhile (busy_timeout cannot help there). Readers override it with
      // `Effect.provideService(SqlClient.BeginTransaction, "BEGIN")`.
      beginTransaction: options.readonly === true ? "BEGIN" : "BEGIN IMMEDIATE"
    })
    return Context.make(SqlClient.SqlClient, client).pipe(Context.add(SqliteDatabase, SqliteDatabase.of({ db })))
  })).pipe(Layer.provide(Reactivity.layer))
