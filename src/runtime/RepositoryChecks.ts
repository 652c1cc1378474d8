/**
 * What is checked before a command touches a config dir's repository: that its manifest is this
 * repository's, that the providers it wrote to still hold the repository, and that `copies` can be
 * met. Each guards against writing (or reading) as if the repository were somewhere it is not.
 * They read the manifest's log (EventLog), which the caller opens once for all of them.
 */
import { Effect, Stream } from "effect"
import { RepositoryNotFound } from "../domain/Errors.ts"
import { EventLog } from "../services/manifest/EventLog.ts"
import { sealedKey } from "../services/manifest/Segments.ts"
import { Keys as ObjectKeys } from "../services/storage/StorageProvider.ts"
import type { Opened } from "./Open.ts"

/**
 * Why the manifest at `dbPath` is not repository `repositoryId`'s, if it is not: another's, left
 * behind by an earlier `init` in this config dir, or copied in with a config dir used as a
 * template. Read as this repository's it would take the other's chunks for stored (a backup then
 * stores nothing) and gc would take this one's for orphans.
 */
export const foreignManifest = (dbPath: string, repositoryId: string) =>
  Effect.gen(function*() {
    const recorded = yield* (yield* EventLog).repositoryId
    return recorded !== undefined && recorded !== repositoryId
      ? `manifest database ${dbPath} is repository ${recorded}'s, not this one's (${repositoryId}, as its keyfile says): ` +
        "left by an earlier repository in this config dir, or copied in with it? Move it aside (nothing is read from it), " +
        "then run `enigma recover` to rebuild this repository's from the providers"
      : undefined
  })

/**
 * The providers this manifest has sealed its log to that hold none of the repository now (neither
 * its keystore nor a segment of the log): not the storage written before. A disk not mounted (its
 * mount point an empty directory), a bucket or path changed in the config. Written to, such a
 * provider would take new chunks that vanish when the disk comes back, recorded as stored, so that
 * dedup never writes them again; read from, every chunk there is "missing". A provider that does
 * not answer is passed over: the command meets it and says so.
 */
const strangerProviders = (opened: Opened) =>
  Effect.gen(function*() {
    const log = yield* EventLog
    const sealed = yield* Effect.forEach(opened.providers, (p) => Effect.map(log.getMeta(sealedKey(p.name)), (v) => ({ p, sealedThrough: Number(v ?? "0") })))
    // New to this manifest (nothing sealed there yet): the seal at the end writes it all. The
    // others are asked at once: a remote store's round trips would add up one after another.
    const found = yield* Effect.forEach(sealed.filter((s) => s.sealedThrough > 0), ({ p, sealedThrough }) =>
      Effect.map(Effect.result(Effect.gen(function*() {
        if ((yield* p.head(ObjectKeys.keystore)) !== undefined) return true
        return (yield* p.list(ObjectKeys.segmentPrefix).pipe(Stream.take(1), Stream.runCollect)).length > 0
      })), (holds) => {
        if (holds._tag === "Failure" || holds.success) return []
        const place = opened.settings.providers.find((s) => s.name === p.name)?.bucket
        return [{ name: p.name, shown: `provider ${p.name}${place !== undefined ? ` (${place})` : ""}`, sealedThrough }]
      }), { concurrency: "unbounded" })
    return found.flat()
  })

const strangerAdvice = "is its disk mounted, its bucket or path in enigma.toml right?"

/**
 * Before a config dir's writer writes (under the lock): no provider is a stranger. `repair` alone
 * goes on: it is how a disk replaced on purpose is filled again from the other copies.
 */
export const requireProvidersHoldRepository = (opened: Opened) =>
  Effect.gen(function*() {
    const [first] = yield* strangerProviders(opened)
    if (first === undefined) return
    return yield* new RepositoryNotFound({
      path: first.shown,
      hint: `it holds neither the keystore nor the log this manifest sealed there (through event ${first.sealedThrough}), so it is not ` +
        `the storage written before: ${strangerAdvice} Nothing was written. ` +
        "If it was replaced by an empty one on purpose, `enigma repair` fills it again from the other copies"
    })
  })

/** Before a reader reads: a stranger is named once, up front, rather than as every chunk "missing" there. */
export const warnStrangerProviders = (opened: Opened) =>
  Effect.gen(function*() {
    for (const s of yield* strangerProviders(opened)) {
      process.stderr.write(`warning: ${s.shown} holds none of this repository (no keystore, no log): ${strangerAdvice} Its copies are read from the other providers, if any\n`)
    }
  })

/**
 * `copies = N` with fewer providers taking new chunks (one configured, or the others draining):
 * each chunk gets one copy per provider, fewer than asked. Said on every write, as the copies
 * the user counts on are not there; not refused, since draining a provider passes through it.
 */
export const warnFewerProvidersThanCopies = (settings: Opened["settings"]) => {
  const copies = settings.enigma.copies ?? 1
  const filling = settings.providers.filter((p) => p.drain !== true).length
  if (copies <= filling) return
  process.stderr.write(
    `warning: copies = ${copies}, but only ${filling} provider${filling === 1 ? " takes" : "s take"} new chunks: each gets ${filling} ` +
      `cop${filling === 1 ? "y" : "ies"}; add a provider to enigma.toml (then run \`enigma repair\`) or lower copies\n`
  )
}
