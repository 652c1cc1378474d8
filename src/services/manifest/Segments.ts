import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto"
import { promisify } from "node:util"
import { zstdCompress, zstdDecompressSync } from "node:zlib"
import { Effect, Schedule, Schema, Stream } from "effect"
import * as Envelope from "../../domain/Envelope.ts"
import { Event } from "../../domain/Events.ts"
import { Keys, type StorageError, type StorageProvider } from "../storage/StorageProvider.ts"
import type { EventLog, LoggedEvent, ManifestError } from "./EventLog.ts"

/**
 * Sealed log segments: every event appended since the last seal, as zstd-compressed JSON lines
 * encrypted (AES-256-GCM, the envelope layout, AAD = purpose + object key) under the log key,
 * written to every provider as `log/<first>-<last>`. Together with the keystore they let
 * `recover` rebuild the manifest from the providers alone. Object keys show only sequence
 * numbers; file names and sizes are inside the ciphertext.
 */
const SegmentLine = Schema.Struct({ seq: Schema.Number, at: Schema.Number, event: Event })
/** A line is `{"seq":…,"at":…,"event":<the event's JSON as stored>}`: written without re-encoding. */
const lineOf = (row: { readonly seq: number; readonly at: number; readonly body: string }) =>
  `{"seq":${row.seq},"at":${row.at},"event":${row.body}}`
const decodeLine = Schema.decodeUnknownSync(Schema.fromJsonString(SegmentLine))

export class SegmentError extends Schema.TaggedError<SegmentError>()("SegmentError", {
  key: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `log segment ${this.key}: ${this.detail}`
  }
}

const purpose = "enigma-log-segment-v1"

const zstdCompressAsync = promisify(zstdCompress)

/**
 * At most this much event JSON per segment: a long-running gateway storing small objects inline
 * appends megabytes a second, and one segment of everything since the last seal would be held
 * (and compressed) in memory at once.
 */
export const segmentBodyLimit = 8 * 1024 * 1024

/** Compressed off the main thread (zlib's pool), so a seal does not stall a serving gateway. */
const sealSegment = (
  key: string,
  logKey: Uint8Array,
  rows: ReadonlyArray<{ readonly seq: number; readonly at: number; readonly body: string }>
) =>
  Effect.promise(() => zstdCompressAsync(Buffer.from(rows.map(lineOf).join("\n"), "utf8"))).pipe(
    Effect.map((body): Uint8Array => {
      const nonce = randomBytes(12)
      const c = createCipheriv("aes-256-gcm", logKey, nonce)
      c.setAAD(Envelope.sealAad(purpose, key, 0))
      const ct = Buffer.concat([c.update(body), c.final()])
      return Buffer.concat([Envelope.encodeHeader(0, 0, nonce), ct, c.getAuthTag()])
    })
  )

/** A segment's text (its lines), or why it does not open. */
const segmentText = (key: string, logKey: Uint8Array, bytes: Uint8Array): { readonly text: string } | string => {
  const header = Envelope.decodeHeader(bytes)
  if (typeof header === "string") return header
  try {
    const d = createDecipheriv("aes-256-gcm", logKey, header.nonce)
    d.setAAD(Envelope.sealAad(purpose, key, header.flags))
    d.setAuthTag(bytes.subarray(bytes.length - Envelope.tagLength))
    const body = Buffer.concat([d.update(bytes.subarray(Envelope.headerLength, bytes.length - Envelope.tagLength)), d.final()])
    return { text: zstdDecompressSync(body).toString("utf8") }
  } catch (e) {
    return `cannot open: ${(e as Error).message.includes("authenticate") ? "authentication failed (wrong key or tampered)" : (e as Error).message}`
  }
}

export const openSegment = (key: string, logKey: Uint8Array, bytes: Uint8Array): ReadonlyArray<LoggedEvent> | string => {
  const opened = segmentText(key, logKey, bytes)
  if (typeof opened === "string") return opened
  try {
    return opened.text.length === 0 ? [] : opened.text.split("\n").map((l) => decodeLine(l))
  } catch (e) {
    return `cannot open: ${(e as Error).message}`
  }
}

/**
 * The time and kind of the event numbered `seq` in a segment, read from its line alone: a check
 * of one event, where decoding a backup's segment (18,000 files recorded) took ~0.1 s.
 */
const eventAtSeq = (key: string, logKey: Uint8Array, bytes: Uint8Array, seq: number): { readonly at: number; readonly tag: string } | undefined | string => {
  const opened = segmentText(key, logKey, bytes)
  if (typeof opened === "string") return opened
  const prefix = `{"seq":${seq},`
  const start = opened.text.startsWith(prefix) ? 0 : opened.text.indexOf(`\n${prefix}`) + 1
  if (start === 0 && !opened.text.startsWith(prefix)) return undefined
  const end = opened.text.indexOf("\n", start)
  try {
    const line = JSON.parse(opened.text.slice(start, end < 0 ? undefined : end)) as { at?: unknown; event?: { _tag?: unknown } }
    return typeof line.at === "number" && typeof line.event?._tag === "string" ? { at: line.at, tag: line.event._tag } : undefined
  } catch {
    return undefined
  }
}

/** How far the log has been sealed onto each provider (local bookkeeping, not an event). */
export const sealedKey = (provider: string) => `sealed_through:${provider}`

const segmentRetry = Schedule.exponential("100 millis").pipe(
  Schedule.jittered,
  Schedule.upTo({ times: 4 }),
  Schedule.setInputType<StorageError>(),
  Schedule.while(({ input }) => input.isRetryable)
)

/**
 * Seals the events each provider has not got yet into segments (of at most segmentBodyLimit) and uploads them.
 * A provider that is down does not fail the command while another one took the segment: it is
 * named in a warning and catches up on the next seal (recover reads from any provider with an
 * unbroken log). Fails only when no provider took it. Returns how many events were sealed.
 */
export const sealPending = Effect.fn("Segments.sealPending")(function*(
  log: EventLog["Service"],
  providers: ReadonlyArray<StorageProvider>,
  logKey: Uint8Array
) {
  const last = yield* log.lastSeq
  const results = yield* Effect.forEach(providers, (p) =>
    Effect.gen(function*() {
      let sealed = Number((yield* log.getMeta(sealedKey(p.name))) ?? "0")
      // Segments of at most segmentBodyLimit, each recorded as sealed once stored: an interrupted
      // seal resumes after the last stored segment.
      while (sealed < last) {
        const rows = yield* log.rawEventsAfter(sealed, last, segmentBodyLimit)
        if (rows.length === 0) break
        const key = Keys.segment(rows[0]!.seq, rows[rows.length - 1]!.seq)
        const bytes = yield* sealSegment(key, logKey, rows)
        const put = yield* Effect.exit(p.put(key, bytes).pipe(Effect.retry(segmentRetry)))
        if (put._tag === "Failure") {
          const e = put.cause.reasons.find((r) => r._tag === "Fail")
          return { provider: p, error: e && e._tag === "Fail" ? e.error : undefined }
        }
        sealed = rows[rows.length - 1]!.seq
        yield* log.setMeta(sealedKey(p.name), String(sealed))
      }
      return { provider: p, error: undefined }
    }), { concurrency: "unbounded" })
  const failed = results.filter((r) => r.error !== undefined)
  if (failed.length === providers.length && failed.length > 0) return yield* failed[0]!.error!
  for (const f of failed) {
    yield* Effect.logWarning(`log segment not written to provider ${f.provider.name} (${f.error!.message}); it will catch up on the next write`)
  }
  return last
})

/**
 * Reads every segment from the first provider that has any and returns the events in order,
 * de-duplicated by seq (a crash between upload and bookkeeping can leave overlapping segments).
 */
export const readAllSegments = Effect.fn("Segments.readAll")(function*(
  providers: ReadonlyArray<StorageProvider>,
  logKey: Uint8Array
) {
  let lastError: SegmentError | StorageError | undefined
  // Every event that opened, from any provider: where each provider lacks a different segment
  // (one lost on one disk, another damaged on the other), together they may still be whole.
  const pooled = new Map<number, LoggedEvent>()
  for (const p of providers) {
    const keys = yield* p.list(Keys.segmentPrefix).pipe(Stream.runCollect, Effect.result)
    if (keys._tag === "Failure") {
      lastError = keys.failure
      continue
    }
    if (keys.success.length === 0) continue
    const sorted = [...keys.success].sort()
    const bySeq = new Map<number, LoggedEvent>()
    let failed = false
    for (const key of sorted) {
      // One that cannot be read or opened fails this provider, but the rest still go to the pool.
      const bytes = yield* p.get(key).pipe(Effect.result)
      if (bytes._tag === "Failure") {
        lastError = bytes.failure
        failed = true
        continue
      }
      const events = openSegment(key, logKey, bytes.success)
      if (typeof events === "string") {
        lastError = new SegmentError({ key, detail: events })
        failed = true
        continue
      }
      for (const e of events) {
        bySeq.set(e.seq, e)
        pooled.set(e.seq, e)
      }
    }
    if (failed) continue
    const events = [...bySeq.values()].sort((a, b) => a.seq - b.seq)
    for (let i = 0; i < events.length; i++) {
      if (events[i]!.seq !== i + 1) {
        lastError = new SegmentError({ key: p.name, detail: `the log has a gap before event ${events[i]!.seq}` })
        failed = true
        break
      }
    }
    if (!failed) return { provider: p.name, events }
  }
  const merged = [...pooled.values()].sort((a, b) => a.seq - b.seq)
  if (lastError && merged.length > 0 && merged.every((e, i) => e.seq === i + 1)) {
    yield* Effect.logWarning(`no provider holds the whole log (${lastError.message}); it was put together from the segments of several`)
    return { provider: undefined, events: merged as ReadonlyArray<LoggedEvent> }
  }
  if (lastError) return yield* lastError
  return { provider: undefined, events: [] as ReadonlyArray<LoggedEvent> }
})

export type { ManifestError }

const segmentRange = (key: string) => {
  const m = /(\d+)-(\d+)$/.exec(key)
  return m ? { key, first: Number(m[1]), last: Number(m[2]) } : undefined
}

/**
 * The log on the providers and this manifest's log disagree at an event: another manifest (a
 * second machine that ran `recover`, or a copy of this database) wrote to the repository without
 * this one's events. Importing past it would mix two histories, and writing would add a third.
 */
export class LogDiverged extends Schema.TaggedError<LogDiverged>()("LogDiverged", {
  provider: Schema.String,
  seq: Schema.Number
}) {
  override get message() {
    return `the repository's log on provider ${this.provider} differs from this manifest's at event ${this.seq}: another manifest wrote to the repository without this one's events; write from one machine only, and make the others' manifests again with \`enigma recover\` (into an empty config dir)`
  }
}

/**
 * Brings a local manifest up to date with the log in a provider: imports, in order, the events
 * of segments past the local last seq (another host wrote them). Run by every writer, under the
 * repository lock, before it writes: a `--repo URL` repository's database is a cache of that
 * log, and a config dir's may be one of several (`recover` on a second machine): without it, the
 * second would reuse event numbers and its gc would take the first's chunks for orphans. Fails
 * on a gap rather than import a log with holes, and where the provider's event at the local last
 * seq is not the local one (LogDiverged). Returns how many events were imported.
 */
export const pullSegments = Effect.fn("Segments.pull")(function*(
  log: EventLog["Service"],
  provider: StorageProvider,
  logKey: Uint8Array,
  /** The provider's segment keys, where the caller has just listed them. */
  listed?: Iterable<string>
) {
  const last = yield* log.lastSeq
  const keys = listed ?? (yield* provider.list(Keys.segmentPrefix).pipe(Stream.runCollect))
  const ranges = [...keys].map(segmentRange).filter((s) => s !== undefined)
  const wanted = ranges.filter((s) => s.last > last).sort((a, b) => a.first - b.first)
  // The provider's log must agree with this one where both have events: every segment holding
  // its event at `last` has ours there (same time and kind); two histories written over the same
  // numbers show as two segments that differ. Where it lacks that event, ours may not be sealed
  // yet; but then it must hold nothing later either.
  const holding = last > 0 ? ranges.filter((s) => s.first <= last && last <= s.last) : []
  if (holding.length === 0 && wanted.length > 0 && last > 0) return yield* new LogDiverged({ provider: provider.name, seq: last })
  if (holding.length > 0) {
    const ours = (yield* log.rawEventsAfter(last - 1, last, Infinity))[0]
    if (ours === undefined) return yield* new LogDiverged({ provider: provider.name, seq: last })
    const ourTag = (JSON.parse(ours.body) as { _tag?: string })._tag
    for (const h of holding) {
      const theirs = eventAtSeq(h.key, logKey, yield* provider.get(h.key), last)
      if (typeof theirs === "string") return yield* new SegmentError({ key: h.key, detail: theirs })
      if (theirs === undefined || theirs.at !== ours.at || theirs.tag !== ourTag) {
        return yield* new LogDiverged({ provider: provider.name, seq: last })
      }
    }
  }
  const events: Array<LoggedEvent> = []
  let next = last + 1
  for (const s of wanted) {
    if (s.last < next) continue // covered by a larger segment already read
    const opened = openSegment(s.key, logKey, yield* provider.get(s.key))
    if (typeof opened === "string") return yield* new SegmentError({ key: s.key, detail: opened })
    for (const e of opened) {
      if (e.seq < next) continue
      if (e.seq > next) return yield* new SegmentError({ key: s.key, detail: `the log has a gap before event ${e.seq} (have ${next - 1})` })
      events.push(e)
      next++
    }
  }
  if (events.length > 0) {
    yield* log.import(events)
    yield* log.setMeta(sealedKey(provider.name), String(next - 1))
  }
  return events.length
})

/**
 * `pullSegments` from the provider whose log reaches furthest (a provider added lately may hold
 * none of it), else from the next: a segment that does not open on one (damaged, or the provider
 * went away) must not stop every write, `repair` included. Providers that cannot be listed are
 * passed over: the command that follows meets them and says so. Fails only where the log went
 * apart (LogDiverged). Returns how many events were imported.
 */
export const pullNewestSegments = Effect.fn("Segments.pullNewest")(function*(
  log: EventLog["Service"],
  providers: ReadonlyArray<StorageProvider>,
  logKey: Uint8Array
) {
  const reached: Array<{ readonly provider: StorageProvider; readonly last: number; readonly keys: Iterable<string> }> = []
  for (const p of providers) {
    const keys = yield* p.list(Keys.segmentPrefix).pipe(Stream.runCollect, Effect.result)
    if (keys._tag === "Failure") continue
    let last = 0
    for (const k of keys.success) last = Math.max(last, segmentRange(k)?.last ?? 0)
    // Also one that reaches no further than this log: it must agree where both have events.
    if (last > 0) reached.push({ provider: p, last, keys: keys.success })
  }
  let problem: SegmentError | StorageError | undefined
  for (const r of reached.sort((a, b) => b.last - a.last)) {
    const pulled = yield* pullSegments(log, r.provider, logKey, r.keys).pipe(
      Effect.catchTags({ SegmentError: (e) => Effect.succeed(e), StorageError: (e) => Effect.succeed(e) })
    )
    if (typeof pulled === "number") return pulled
    problem ??= pulled
  }
  if (problem !== undefined) yield* Effect.logWarning(`${problem.message}; went on without importing what other machines sealed`)
  return 0
})
