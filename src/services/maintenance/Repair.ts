import { Effect } from "effect"
import { keystoreChangedElsewhere } from "../../domain/Errors.ts"
import { ChunkStore, type CopyState } from "../ChunkStore.ts"
import { makePlainCodec } from "../ChunkCodec.ts"
import { EventLog } from "../manifest/EventLog.ts"
import { type ChunkReferrers, Manifest } from "../manifest/Manifest.ts"
import { sealedKey } from "../manifest/Segments.ts"
import { keyfileBehind, keyfileState, listedChunks, segmentReach, unreachableProviders } from "./ProviderMetadata.ts"
import { Keys as ObjectKeys } from "../storage/StorageProvider.ts"
import { Repository } from "../Repository.ts"
import type { VerifyProgress } from "../VerifyProgress.ts"
import { progressTeller } from "../VerifyProgress.ts"

/**
 * `enigma repair`: brings every copy the repository should have back, from an intact one. It is
 * what a multi-provider repository needs after a provider lost data (a disk replaced, a bucket
 * emptied), was added, or `copies` was raised, or after a copy was damaged:
 *
 * - each referenced chunk's recorded copies are checked (presence and size; with `readData`,
 *   opened and re-hashed); a missing or damaged copy is written again in its place, and copies
 *   are added on other providers until the chunk has `copies` of them. A copy is only ever made
 *   from one that opens and hashes to its id, so damage is never spread;
 * - copies on providers no longer in the config are taken out of the chunk's placement (they
 *   cannot be read), and replaced elsewhere when that leaves fewer than `copies`;
 * - the sealed keyfile and the log's segments are written again to each provider that lacks
 *   them (with `readData`, a segment that does not open counts as lacking), so `recover` works
 *   from any one provider.
 *
 * A copy that could not be checked (its provider did not answer, refused, or holds it in cold
 * storage) is left as it is and reported: it is not known to be bad. A chunk with no intact copy
 * anywhere is lost; repair names what it belongs to and changes nothing about it. Runs under the
 * repository lock (a writer), except `dryRun`, which only reports.
 */
export interface RepairReport {
  readonly dryRun: boolean
  readonly readData: boolean
  /** Referenced chunks checked. */
  readonly chunks: number
  /** Copies written (or, dry run, to write): `why` is "missing", the damage found, or "new copy". */
  readonly copied: ReadonlyArray<{ readonly chunk: string; readonly provider: string; readonly why: string }>
  readonly copiedBytes: number
  /** Copies taken out of their chunk's placement: on providers no longer in the config, or drained (`drain = true`) once enough copies are elsewhere. */
  readonly dropped: ReadonlyArray<{ readonly chunk: string; readonly provider: string; readonly why: "not in the config" | "drained" }>
  /** Chunks with no intact copy left: nothing to copy from. */
  readonly lost: ReadonlyArray<{ readonly chunk: string; readonly problems: string } & ChunkReferrers>
  /** What could not be checked or written: run repair again once the provider answers. */
  readonly failed: ReadonlyArray<{ readonly chunk: string; readonly provider: string; readonly detail: string }>
  /** Providers the keyfile was (dry run: would be) written to. */
  readonly keyfile: ReadonlyArray<string>
  /** Providers whose log is (would be) sealed again, from event `from` on. */
  readonly log: ReadonlyArray<{ readonly provider: string; readonly from: number }>
}

/** Chunks checked at a time: each check is a HEAD (or, reading data, a download). */
const checkConcurrency = 8

const describe = (state: CopyState) =>
  state._tag === "Unconfigured" ? "its provider is not in the config" : state._tag === "Intact" ? "intact" : state.detail

export const repairRepository = Effect.fn("Maintenance.repair")(function*(
  options: { readonly readData: boolean; readonly dryRun: boolean },
  onProgress?: VerifyProgress
) {
  const repo = yield* Repository
  const chunks = yield* ChunkStore
  const manifest = yield* Manifest
  const log = yield* EventLog
  const { readData, dryRun } = options
  const copied: Array<RepairReport["copied"][number]> = []
  const dropped: Array<RepairReport["dropped"][number]> = []
  const lost: Array<RepairReport["lost"][number]> = []
  const failed: Array<RepairReport["failed"][number]> = []
  let copiedBytes = 0

  // A provider that does not answer is named once, and none of its copies is looked at (each
  // would wait out its retries): they are not known to be bad, and it takes no new ones.
  const down = yield* unreachableProviders(repo)
  for (const [provider, why] of down) failed.push({ chunk: "", provider, detail: `not checked: ${why}` })
  const up = repo.providers.filter((p) => !down.has(p.name))

  // The keyfile: the one this repository was opened with is the one every provider should hold.
  const keyfile: Array<string> = []
  const sealed = repo.ring.sealed
  if (sealed.length > 0) {
    const states = yield* Effect.forEach(up, (p) => Effect.result(keyfileState(p, sealed)))
    const known = states.flatMap((r) => r._tag === "Success" ? [r.success] : [])
    const behind = keyfileBehind(known)
    if (behind) failed.push({ chunk: "", provider: "-", detail: `keyfile: ${keystoreChangedElsewhere(repo.settings.enigma.keyfile_path)}` })
    for (const [i, p] of (behind ? [] : up).entries()) {
      const held = states[i]!
      if (held._tag === "Failure") {
        failed.push({ chunk: "", provider: p.name, detail: `keyfile: ${held.failure.message}` })
        continue
      }
      if (held.success === "same") continue
      if (!dryRun) {
        const put = yield* Effect.result(p.put(ObjectKeys.keystore, sealed))
        if (put._tag === "Failure") {
          failed.push({ chunk: "", provider: p.name, detail: `keyfile: ${put.failure.message}` })
          continue
        }
      }
      keyfile.push(p.name)
    }
  }

  // The log: how far each provider's segments reach without a gap, against how far this host
  // recorded sealing them. Behind: sealed again from there when the command ends (Open.ts).
  const logRepairs: Array<RepairReport["log"][number]> = []
  for (const p of up) {
    const through = Number((yield* log.getMeta(sealedKey(p.name))) ?? "0")
    if (through === 0) continue // never sealed there: the command's seal writes it all
    const reach = yield* Effect.result(segmentReach(p, readData ? repo.ring.logKey : undefined, !dryRun))
    if (reach._tag === "Failure") {
      failed.push({ chunk: "", provider: p.name, detail: `log: ${reach.failure.message}` })
      continue
    }
    if (reach.success >= through) continue
    if (!dryRun) yield* log.setMeta(sealedKey(p.name), String(reach.success))
    logRepairs.push({ provider: p.name, from: reach.success + 1 })
  }

  const referenced = yield* manifest.referencedChunks
  // Presence from one listing per provider where it gives sizes, not a HEAD per copy.
  const listed = readData ? undefined : yield* listedChunks(up)
  const told = progressTeller(referenced.length, onProgress)
  const plain = makePlainCodec(repo.ring.chunkIdKey)
  const wanted = chunks.copiesWanted

  const mend = (id: string, format: "envelope" | "age" | "plain") =>
    Effect.gen(function*() {
      const row = chunks.row(id)
      if (row === undefined) return
      const codec = format === "plain" ? plain : undefined
      const states = yield* Effect.forEach(row.placement, (provider) =>
        down.has(provider)
          ? Effect.succeed({ provider, state: { _tag: "Unreadable", detail: "its provider did not answer" } as CopyState })
          : Effect.map(chunks.inspectCopy(id, provider, readData, codec, listed), (state) => ({ provider, state })))
      const on = (tag: CopyState["_tag"]) => states.filter((s) => s.state._tag === tag)
      const intact = on("Intact").map((s) => s.provider)
      const unreadable = on("Unreadable")
      const bad = on("Bad").map((s) => ({ provider: s.provider, why: describe(s.state) }))
      // Copies that leave the placement: on providers gone from the config, or being drained.
      const gone = on("Unconfigured").map((s) => s.provider)
      const drained = states.filter((s) => s.state._tag !== "Unconfigured" && chunks.draining.has(s.provider)).map((s) => s.provider)
      for (const u of unreadable.filter((u) => !down.has(u.provider))) failed.push({ chunk: id, provider: u.provider, detail: `could not be checked: ${describe(u.state)}` })
      // Copies that stay: on providers that take chunks, intact, not known to be bad, or to be written again.
      const staying = states.filter((s) => s.state._tag !== "Unconfigured" && !chunks.draining.has(s.provider))
      const rewrite = bad.filter((b) => !chunks.draining.has(b.provider))
      const more = Math.max(0, wanted - staying.length)
      if (rewrite.length === 0 && gone.length === 0 && drained.length === 0 && more === 0) return
      const lose = (problems: string) =>
        Effect.gen(function*() {
          lost.push({ chunk: id, problems, ...(yield* manifest.referrersOf(id)) })
        })
      const cannot = (list: ReadonlyArray<{ readonly provider: string; readonly why: string }>) => {
        for (const b of list) failed.push({ chunk: id, provider: b.provider, detail: `${b.why}, and no intact copy could be read to write it again` })
      }
      if (intact.length === 0) {
        if (unreadable.length > 0) return cannot(rewrite)
        return yield* lose(states.map((s) => `${s.provider}: ${describe(s.state)}`).join("; ") || "no copy recorded")
      }
      // Providers for new copies, in the order the placement rule picks them.
      const candidates = chunks.copyTargets(new Set([...row.placement, ...down.keys()]))
      if (dryRun) {
        for (const b of rewrite) copied.push({ chunk: id, provider: b.provider, why: b.why })
        for (const name of candidates.slice(0, more)) copied.push({ chunk: id, provider: name, why: "new copy" })
        copiedBytes += row.storedSize * (rewrite.length + Math.min(more, candidates.length))
        for (const name of gone) dropped.push({ chunk: id, provider: name, why: "not in the config" })
        if (staying.length + Math.min(more, candidates.length) >= wanted) {
          for (const name of drained) dropped.push({ chunk: id, provider: name, why: "drained" })
        }
        return
      }
      // The bytes to copy: the first intact copy that opens and hashes to the chunk's id.
      let source: Uint8Array | undefined
      for (const name of intact) {
        const got = yield* Effect.result(chunks.verifiedCopy(id, name, codec))
        if (got._tag === "Success") {
          source = got.success
          break
        }
        if (got.failure.unreadable === true) {
          failed.push({ chunk: id, provider: name, detail: `could not be read: ${got.failure.detail}` })
          continue
        }
        // There with the right size, but not the chunk: damaged too, and written again.
        bad.push({ provider: name, why: got.failure.detail })
        if (!chunks.draining.has(name)) rewrite.push({ provider: name, why: got.failure.detail })
      }
      if (source === undefined) {
        if (bad.length === states.length - gone.length) return yield* lose(bad.map((b) => `${b.provider}: ${b.why}`).join("; "))
        return cannot(rewrite)
      }
      // Copies known good once this is done: intact ones (checked just now) and those written.
      let good = staying.filter((s) => s.state._tag === "Intact" && !rewrite.some((b) => b.provider === s.provider)).length
      const write = (name: string, why: string) =>
        Effect.gen(function*() {
          const put = yield* Effect.result(chunks.writeCopy(id, name, source))
          if (put._tag === "Failure") {
            failed.push({ chunk: id, provider: name, detail: `${why === "new copy" ? "new copy: " : ""}${put.failure.message}` })
            return false
          }
          copied.push({ chunk: id, provider: name, why })
          copiedBytes += source.length
          good++
          return true
        })
      for (const b of rewrite) yield* write(b.provider, b.why)
      const added: Array<string> = []
      for (const name of candidates) {
        if (added.length >= more) break
        if (yield* write(name, "new copy")) added.push(name)
      }
      if (added.length < more) {
        failed.push({ chunk: id, provider: "-", detail: `${staying.length + added.length} of ${wanted} copies: no other provider took one` })
      }
      // A drained copy leaves the placement only once enough known-good copies are elsewhere.
      const leaving = [...gone, ...(good >= wanted ? drained : [])]
      for (const name of gone) dropped.push({ chunk: id, provider: name, why: "not in the config" })
      for (const name of good >= wanted ? drained : []) dropped.push({ chunk: id, provider: name, why: "drained" })
      if (leaving.length > 0 || added.length > 0) {
        // Recorded as they come; the command's final append (below) makes them durable.
        yield* log.record([{ _tag: "ChunkPlaced", id, placement: [...row.placement.filter((n) => !leaving.includes(n)), ...added] }])
      }
    })

  yield* Effect.forEach(referenced, (c) => mend(c.id, c.format).pipe(Effect.tap(() => told(undefined))), {
    concurrency: checkConcurrency,
    discard: true
  })
  if (!dryRun) yield* log.append([])

  return {
    dryRun,
    readData,
    chunks: referenced.length,
    copied,
    copiedBytes,
    dropped,
    lost,
    failed,
    keyfile,
    log: logRepairs
  } satisfies RepairReport
})
