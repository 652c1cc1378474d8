import { Context, Deferred, Effect, Exit, Layer, Queue, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { Event } from "../../domain/Events.ts"
import { SqliteDatabase } from "../sql/NodeSqliteClient.ts"
import { manifestFailure } from "./ManifestFailure.ts"
import { logDdl, makeProjector, projectionDdl, projectionMigrations, projectionTables, projectionVersion } from "./Projection.ts"

/** The manifest database could not be written (disk full, damaged file…). */
export class ManifestError extends Schema.TaggedError<ManifestError>()("ManifestError", {
  detail: Schema.String
}) {
  override get message() {
    return `manifest database: ${this.detail}`
  }
}

export interface LoggedEvent {
  readonly seq: number
  readonly at: number
  readonly event: Event
}

/**
 * Events are plain JSON-shaped values built by our own code, so writing is JSON.stringify;
 * reading (replay, recover) decodes and validates with the Schema.
 */
const encodeEvent = (event: Event): string => JSON.stringify(event)
const decodeEvent = Schema.decodeSync(Schema.fromJsonString(Event))

interface AppendRequest {
  readonly events: ReadonlyArray<Event>
  /** `entriesIn(events)`, for a recorded request (counted in the backlog); 0 for an append. */
  readonly entries: number
  /** Absent for `record`: nobody waits, the events ride along with the next commit. */
  readonly done: Deferred.Deferred<number, ManifestError> | undefined
}

/** How long the writer lets recorded (not awaited) events gather before committing them. */
const recordWindowMs = 1000
/**
 * Recorded entries (files count one each, other events one) that may wait for the writer: past
 * this, `record` waits until the writer has taken them, and the writer commits what it gathered
 * without waiting out the window. A backup walking a tree in the page cache records ~100,000
 * file entries a second, faster than they are committed: with 500,000 small files the writer's
 * batch held every entry of the backup at once (~290 MB of heap).
 */
const recordedBacklogMax = 16_384
/** How many entries a request carries: a FilesRecorded event carries up to hundreds. */
const entriesIn = (events: ReadonlyArray<Event>) => {
  let n = 0
  for (const e of events) n += e._tag === "FilesRecorded" ? e.files.length : 1
  return n
}

/**
 * The append-only event log and its projections, in one SQLite database.
 *
 * Invariants: events get consecutive sequence numbers; an event and its projection updates
 * commit in the same transaction; `append` returns only once the batch is durable. All writes
 * go through one writer fiber that drains its mailbox into a single transaction (group commit),
 * so concurrent appenders share one fsync. `record` appends without waiting: its events are
 * written, in order, with the next commit (within a second); an `append` after a `record` returns
 * only when both are durable. Hot paths (ChunkStored per chunk) record, and the command's final
 * event (BackupCommitted) appends. If a commit fails, every later append fails too.
 */
export class EventLog extends Context.Service<EventLog, {
  readonly append: (events: ReadonlyArray<Event>) => Effect.Effect<number, ManifestError>
  readonly record: (events: ReadonlyArray<Event>) => Effect.Effect<void>
  /** Events with seq > after, in order. */
  readonly eventsAfter: (after: number) => Effect.Effect<ReadonlyArray<LoggedEvent>>
  /**
   * Events with after < seq ≤ through, undecoded (body = the event's JSON), for copying the log
   * out verbatim; stops once their bodies reach `maxBytes` (but returns at least one event).
   */
  readonly rawEventsAfter: (
    after: number,
    through: number,
    maxBytes: number
  ) => Effect.Effect<ReadonlyArray<{ readonly seq: number; readonly at: number; readonly body: string }>>
  readonly lastSeq: Effect.Effect<number>
  /** Inserts events that came from elsewhere (recover), keeping their seq, and projects them. */
  readonly import: (events: ReadonlyArray<LoggedEvent>) => Effect.Effect<void, ManifestError>
  /** Drops every projection table and replays the whole log into fresh ones. */
  readonly rebuildProjections: Effect.Effect<void, ManifestError>
  /**
   * The repository this database belongs to: the id its first event (RepositoryInitialized, as
   * `init`, `recover` and a URL repository's first use record) names; undefined while it has none.
   */
  readonly repositoryId: Effect.Effect<string | undefined>
  readonly getMeta: (key: string) => Effect.Effect<string | undefined>
  readonly setMeta: (key: string, value: string) => Effect.Effect<void>
}>()("enigma/services/manifest/EventLog") {
  static readonly layerNoDeps = Layer.effect(EventLog)(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const { db } = yield* SqliteDatabase
    const fail = (cause: unknown) => new ManifestError({ detail: manifestFailure(cause, db.location() ?? "the manifest database") })

    const setVersion = () => db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('projection_version', ?)").run(String(projectionVersion))
    /**
     * The projections made again from the log: dropped, created, every event applied, and the
     * version they are at recorded. The caller runs it in one transaction, so that an interrupted
     * or failed rebuild leaves the old tables and the old version (and the next open tries again),
     * never empty tables marked current: to `list` those say "no backups", and to `gc` every chunk
     * would look orphaned.
     */
    const replayAll = () => {
      for (const t of projectionTables) db.exec(`DROP TABLE IF EXISTS ${t}`)
      db.exec(projectionDdl)
      const apply = makeProjector(db)
      // Row by row: the log of a repository with large backups is hundreds of MB of JSON, and
      // holding it all at once (as `all` would) made an upgrade's rebuild need as much memory.
      for (const r of db.prepare("SELECT seq, body FROM events ORDER BY seq").iterate() as Iterable<{ seq: number; body: string }>) {
        apply(Number(r.seq), decodeEvent(r.body))
      }
      setVersion()
    }

    /** Runs `steps` (projectionMigrations) inside the caller's transaction; undone, and false, if one fails (tables not as expected). */
    const migrated = (steps: ReadonlyArray<string>): boolean => {
      db.exec("SAVEPOINT migrate")
      try {
        for (const sql of steps) db.exec(sql)
        db.exec("RELEASE migrate")
        return true
      } catch {
        db.exec("ROLLBACK TO migrate")
        db.exec("RELEASE migrate")
        return false
      }
    }

    // Projections are disposable: a database whose tables predate this version of them is
    // brought up to date in place where a migration allows it, else by replaying the log into new
    // ones, before anything reads them.
    yield* Effect.try({
      try: () => {
        db.exec(logDdl)
        const version = () =>
          Number((db.prepare("SELECT value FROM meta WHERE key = 'projection_version'").get() as { value: string } | undefined)?.value ?? Number.NaN)
        if (version() === projectionVersion) {
          db.exec(projectionDdl)
          return
        }
        // Nothing else uses the connection yet: a transaction of its own, on the raw handle. Another
        // process may have rebuilt them while this one waited for the lock: then it is done.
        db.exec("BEGIN IMMEDIATE")
        try {
          const from = version()
          const steps = Number.isInteger(from) && from < projectionVersion
            ? Array.from({ length: projectionVersion - from }, (_, i) => projectionMigrations[from + i])
            : undefined
          if (from === projectionVersion) db.exec(projectionDdl)
          else if (steps !== undefined && steps.every((sql) => sql !== undefined) && migrated(steps as ReadonlyArray<string>)) setVersion()
          else {
            // On a repository with years of backups this takes a while: say why on a terminal.
            if (process.stderr.isTTY && db.prepare("SELECT 1 FROM events LIMIT 1").get() !== undefined) {
              process.stderr.write("enigma: rebuilding the manifest's query tables from its log for this version (once)…\n")
            }
            replayAll()
          }
          db.exec("COMMIT")
        } catch (e) {
          db.exec("ROLLBACK")
          throw e
        }
      },
      catch: fail
    })
    let project = makeProjector(db)
    const insertEvent = db.prepare("INSERT INTO events (seq, term, at, type, body) VALUES (?, 0, ?, ?, ?)")
    const lastSeqStmt = db.prepare("SELECT COALESCE(MAX(seq), 0) AS seq FROM events")
    const currentSeq = () => Number((lastSeqStmt.get() as { seq: number }).seq)

    /** Runs `body` in one IMMEDIATE transaction (it writes at once, so take the write lock up front). */
    const inTransaction = <A>(body: () => A) =>
      sql.withTransaction(Effect.try({ try: body, catch: fail })).pipe(
        Effect.provideService(SqlClient.BeginTransaction, "BEGIN IMMEDIATE"),
        Effect.mapError((e) => (e instanceof ManifestError ? e : fail(e)))
      )

    const mailbox = yield* Queue.unbounded<AppendRequest>()
    const maxStragglerTurns = 4
    const nextTurn = Effect.callback<void>((resume) => {
      setImmediate(() => resume(Effect.void))
    })
    // A failed commit may have lost recorded events nobody waited for: refuse everything after it.
    let poisoned: ManifestError | undefined
    const writeBatch = (batch: ReadonlyArray<AppendRequest>) =>
      Effect.gen(function*() {
        const ends: Array<number> = []
        const result = poisoned
          ? Exit.fail(poisoned)
          : yield* Effect.exit(inTransaction(() => {
            let seq = currentSeq()
            for (const req of batch) {
              for (const event of req.events) {
                seq++
                const at = "at" in event ? event.at : Date.now()
                insertEvent.run(seq, at, event._tag, encodeEvent(event))
                project(seq, event)
              }
              ends.push(seq)
            }
          }))
        if (result._tag === "Failure" && !poisoned) {
          const e = result.cause.reasons.find((r) => r._tag === "Fail")
          poisoned = e && e._tag === "Fail" ? e.error : fail(String(result.cause))
        }
        for (let i = 0; i < batch.length; i++) {
          const done = batch[i]!.done
          if (!done) continue
          if (result._tag === "Success") yield* Deferred.succeed(done, ends[i]!)
          else yield* Deferred.failCause(done, result.cause)
        }
      })
    /** Entries recorded and not yet taken off the mailbox, and the recorders waiting for room. */
    let backlog = 0
    let waitingForRoom: Array<() => void> = []
    const entriesOf = (requests: ReadonlyArray<AppendRequest>) => requests.reduce((n, r) => n + r.entries, 0)
    const taken = <A extends ReadonlyArray<AppendRequest>>(requests: A): A => {
      for (const r of requests) backlog -= r.entries
      if (backlog <= recordedBacklogMax && waitingForRoom.length > 0) {
        const woken = waitingForRoom
        waitingForRoom = []
        for (const w of woken) w()
      }
      return requests
    }
    const roomInBacklog = Effect.callback<void>((resume) => {
      if (backlog <= recordedBacklogMax) return resume(Effect.void)
      waitingForRoom.push(() => resume(Effect.void))
    })
    yield* Effect.gen(function*() {
      let batch: Array<AppendRequest> = taken(yield* Queue.takeAll(mailbox))
      let gathered = entriesOf(batch)
      // Only recorded events so far: gather more for up to `recordWindow`, but commit at once
      // when somebody waits (an append) — each commit costs an fsync on this thread.
      const until = Date.now() + recordWindowMs
      while (batch.every((r) => r.done === undefined) && Date.now() < until && gathered < recordedBacklogMax) {
        const more = yield* Queue.takeAll(mailbox).pipe(Effect.timeoutOption(until - Date.now()))
        if (more._tag === "None") break
        batch = batch.concat(taken(more.value))
        gathered += entriesOf(more.value)
      }
      // Somebody waits: before committing, let the requests already read off the sockets reach
      // the mailbox (one event-loop turn each, a few at most). The commit's fsync blocks this
      // thread, so appends arriving meanwhile would otherwise each pay for a commit of their own.
      for (let turn = 0; turn < maxStragglerTurns && gathered < recordedBacklogMax; turn++) {
        yield* nextTurn
        const more = taken(yield* Queue.clear(mailbox))
        if (more.length === 0) break
        batch = batch.concat(more)
        gathered += entriesOf(more)
      }
      yield* writeBatch(batch)
    }).pipe(Effect.forever, Effect.forkScoped)

    const append = Effect.fn("EventLog.append")(function*(events: ReadonlyArray<Event>) {
      const done = yield* Deferred.make<number, ManifestError>()
      yield* Queue.offer(mailbox, { events, done, entries: 0 })
      return yield* Deferred.await(done)
    })
    const record = (events: ReadonlyArray<Event>) =>
      Effect.suspend(() => {
        const entries = entriesIn(events)
        backlog += entries
        const offered = Queue.offer(mailbox, { events, done: undefined, entries })
        return backlog > recordedBacklogMax ? Effect.andThen(offered, roomInBacklog) : Effect.asVoid(offered)
      })

    const selectAfter = db.prepare("SELECT seq, at, body FROM events WHERE seq > ? ORDER BY seq")
    const selectRange = db.prepare("SELECT seq, at, body FROM events WHERE seq > ? AND seq <= ? ORDER BY seq")
    const eventsAfter = Effect.fn("EventLog.eventsAfter")(function*(after: number) {
      const rows = selectAfter.all(after) as Array<{ seq: number; at: number; body: string }>
      return rows.map((r) => ({ seq: Number(r.seq), at: Number(r.at), event: decodeEvent(r.body) }))
    })

    const importEvents = Effect.fn("EventLog.import")(function*(events: ReadonlyArray<LoggedEvent>) {
      yield* inTransaction(() => {
        for (const e of events) {
          insertEvent.run(e.seq, e.at, e.event._tag, encodeEvent(e.event))
          project(e.seq, e.event)
        }
      })
    })

    const rebuildProjections = Effect.fn("EventLog.rebuildProjections")(function*() {
      yield* inTransaction(replayAll)
      // Statements prepared against the dropped tables are stale: prepare them again.
      project = makeProjector(db)
    })

    const getMetaStmt = db.prepare("SELECT value FROM meta WHERE key = ?")
    const setMetaStmt = db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)")

    return EventLog.of({
      append,
      record,
      eventsAfter,
      rawEventsAfter: (after, through, maxBytes) =>
        Effect.sync(() => {
          const rows: Array<{ seq: number; at: number; body: string }> = []
          let bytes = 0
          // iterate(), not all(): stops reading once the budget is spent.
          for (const r of selectRange.iterate(after, through) as Iterable<{ seq: number; at: number; body: string }>) {
            if (rows.length > 0 && bytes + r.body.length > maxBytes) break
            rows.push({ seq: Number(r.seq), at: Number(r.at), body: r.body })
            bytes += r.body.length
          }
          return rows
        }),
      lastSeq: Effect.sync(currentSeq),
      import: importEvents,
      rebuildProjections: rebuildProjections(),
      repositoryId: Effect.sync(() => {
        const first = db.prepare("SELECT body FROM events WHERE seq = 1").get() as { body: string } | undefined
        if (first === undefined) return undefined
        const event = decodeEvent(first.body)
        return event._tag === "RepositoryInitialized" ? event.repositoryId : undefined
      }),
      getMeta: (key) => Effect.sync(() => (getMetaStmt.get(key) as { value: string } | undefined)?.value),
      setMeta: (key, value) => Effect.sync(() => void setMetaStmt.run(key, value))
    })
  }))
}
