import { Effect, Stream } from "effect"
import { retrySettingsOf } from "../../domain/Retry.ts"
import type { EnigmaSettings } from "../../domain/Settings.ts"
import { guardedCall, type ListedCopies } from "../ChunkStore.ts"
import { openSegment } from "../manifest/Segments.ts"
import { Keys as ObjectKeys, type StorageProvider } from "../storage/StorageProvider.ts"

/**
 * The repository's own objects in one provider, beside its chunks: the sealed keyfile and the
 * log's segments, which together let `recover` rebuild the repository from that provider alone.
 * `verify` reports what a provider lacks of them; `repair` writes it again.
 */

/**
 * The providers that do not answer (their `check` fails, retried and bounded in time as any
 * provider call), in the order given, each with why. A command that looks at every copy (verify,
 * repair) names such a provider once and leaves its copies alone: each would wait out its
 * retries, and none is known to be bad.
 */
export const unreachableProviders = (repo: { readonly providers: ReadonlyArray<StorageProvider>; readonly settings: EnigmaSettings }) => {
  const retry = retrySettingsOf(repo.settings.enigma)
  return Effect.map(
    Effect.forEach(repo.providers, (p) =>
      Effect.map(Effect.result(guardedCall(retry, p.name, "check", "", 0, p.check)), (r) => ({ provider: p.name, reached: r })), { concurrency: "unbounded" }),
    (all) => new Map(all.flatMap(({ provider, reached }) => reached._tag === "Failure" ? [[provider, reached.failure.message] as const] : []))
  )
}

/** What a verify could not look at: providers that did not answer (none of their copies checked). */
export interface Unchecked {
  readonly unreachable: ReadonlyArray<{ readonly provider: string; readonly problem: string }>
  /** Chunks with no copy on a provider that answered: not checked at all. */
  readonly unchecked: number
}

/** The providers that did not answer, and how many chunks no check reached (`"unchecked"`). */
export const uncheckedOf = (unreachable: ReadonlyMap<string, string>, outcomes: ReadonlyArray<unknown>): Unchecked => ({
  unreachable: [...unreachable].map(([provider, problem]) => ({ provider, problem })),
  unchecked: outcomes.filter((o) => o === "unchecked").length
})

/** Whether `p` holds the keyfile `sealed` (the one the repository was opened with). */
export const keyfileState = (p: StorageProvider, sealed: Uint8Array) =>
  Effect.gen(function*() {
    const held = yield* Effect.result(p.get(ObjectKeys.keystore))
    if (held._tag === "Failure") {
      if (held.failure.reason === "NotFound") return "missing" as const
      return yield* held.failure
    }
    return Buffer.compare(held.success, sealed) === 0 ? "same" as const : "differs" as const
  })

/**
 * Whether this keyfile is behind the providers' keystore: no provider holds it, and one holds
 * another (a key rotated, a passphrase added or removed on another machine). Written to the
 * providers it would drop what that change added; key commands refuse to then (handlers/keys.ts),
 * and so do verify's advice and repair. One provider holding it says the others missed a change.
 */
export const keyfileBehind = (states: ReadonlyArray<"same" | "missing" | "differs">) =>
  !states.includes("same") && states.includes("differs")

/** A segment key's event range (`log/<first>-<last>`). */
const rangeOf = (key: string) => {
  const m = /(\d+)-(\d+)$/.exec(key)
  return m ? { key, first: Number(m[1]), last: Number(m[2]) } : undefined
}

/**
 * How far `p`'s segments cover the log from event 1 without a gap. With `logKey`, each segment
 * is read and opened, and one that does not open ends the reach (and, with `deleteDamaged`, is
 * deleted: `recover` would stop at it, and sealing again from there may choose other bounds).
 */
export const segmentReach = (p: StorageProvider, logKey: Uint8Array | undefined, deleteDamaged: boolean) =>
  Effect.gen(function*() {
    const keys = yield* p.list(ObjectKeys.segmentPrefix).pipe(Stream.runCollect)
    const ranges = [...keys].map(rangeOf).filter((r) => r !== undefined).sort((a, b) => a.first - b.first || b.last - a.last)
    let reach = 0
    for (const r of ranges) {
      if (r.first > reach + 1) break
      if (r.last <= reach) continue
      if (logKey !== undefined) {
        const bytes = yield* p.get(r.key)
        if (typeof openSegment(r.key, logKey, bytes) === "string") {
          if (deleteDamaged) yield* p.delete(r.key)
          break
        }
      }
      reach = r.last
    }
    return reach
  })

/**
 * The chunk copies each provider that lists sizes holds (StorageProvider.listSized), from one
 * listing each: `verify` and `repair` check presence from it, a page of 1,000 keys a request,
 * instead of one HEAD per copy. A provider whose listing fails is left out (asked by HEAD).
 * Take it after reading which chunks to check, so that every chunk checked was stored before.
 */
export const listedChunks = (providers: ReadonlyArray<StorageProvider>) =>
  Effect.gen(function*() {
    const listed = new Map<string, Map<string, number | undefined>>()
    yield* Effect.forEach(providers, (p) =>
      p.listSized === undefined
        ? Effect.void
        : p.listSized(ObjectKeys.chunkPrefix).pipe(
          Stream.runForEach((o) =>
            Effect.sync(() => {
              let sizes = listed.get(p.name)
              if (sizes === undefined) listed.set(p.name, sizes = new Map())
              sizes.set(ObjectKeys.chunkIdOf(o.key), o.size)
            })
          ),
          Effect.andThen(Effect.sync(() => void (listed.has(p.name) || listed.set(p.name, new Map())))),
          Effect.catch(() => Effect.sync(() => void listed.delete(p.name)))
        ), { concurrency: "unbounded", discard: true })
    return listed as ListedCopies
  })

/**
 * Whether checking `toCheck` chunks on a provider that holds `held` is cheaper from its listing
 * (a request per 1,000 keys, one after another) than by a HEAD per chunk (8 at a time). A listing
 * request costs ~12.5 HEADs on S3's price list and takes a few HEADs' time, so the listing pays
 * from 16 HEADs saved per page of it. `verify ID` asks this; the whole repository is always listed.
 */
export const listingPays = (held: number, toCheck: number): boolean => Math.max(1, Math.ceil(held / 1000)) * 16 <= toCheck
