import { Context, Effect, Layer } from "effect"
import type { NotFound, UserError } from "../../domain/Errors.ts"
import { retrySettingsOf } from "../../domain/Retry.ts"
import { ChunkStore, guardedCall } from "../ChunkStore.ts"
import { Manifest } from "../manifest/Manifest.ts"
import { Repository } from "../Repository.ts"
import { Keys as ObjectKeys, type StorageError, type ThawOptions, type ThawState } from "../storage/StorageProvider.ts"

export interface ThawReport {
  /** Set when a backup was thawed. */
  readonly backupId?: string
  /** Set when a stream (`enigma put`) was thawed. */
  readonly stream?: string
  readonly chunks: number
  readonly days: number
  readonly tier: ThawOptions["tier"]
  /** Chunks whose thaw was asked for now. */
  readonly requested: number
  /** Chunks a thaw was already asked for, not finished yet. */
  readonly inProgress: number
  /** Chunks with a thawed copy that can be read now. */
  readonly ready: number
  /** Chunks with a copy that is not in cold storage at all. */
  readonly notCold: number
  readonly failed: ReadonlyArray<{ readonly chunk: string; readonly provider: string; readonly detail: string }>
}

/**
 * Makes a backup or a stream readable again when its chunks sit in cold storage (S3 GLACIER / DEEP_ARCHIVE):
 * asks each provider that has cold storage for a temporary readable copy of every chunk of the
 * backup. One copy per chunk is enough, so a chunk that also lives on a provider without cold
 * storage, or whose first cold copy is already thawed or thawing, costs no request. Running it
 * again is safe and reports progress. Reads only the manifest: no lock, no events.
 */
export class Thaw extends Context.Service<Thaw, {
  /** `target`: a stream name, or a backup id (prefix). */
  /** `stream`: `target` names a stream, whatever backup it might also name (`--stream`). */
  readonly run: (target: string, options: ThawOptions & { readonly stream?: boolean }) => Effect.Effect<ThawReport, NotFound | UserError>
}>()("enigma/services/maintenance/Thaw") {
  static readonly layer = Layer.effect(Thaw)(Effect.gen(function*() {
    const repo = yield* Repository
    const manifest = yield* Manifest
    const chunks = yield* ChunkStore
    const providers = new Map(repo.providers.map((p) => [p.name, p] as const))
    const retry = retrySettingsOf(repo.settings.enigma)

    type Outcome = { readonly state: ThawState } | { readonly failed: ReadonlyArray<{ provider: string; detail: string }> }

    const thawChunk = (id: string, options: ThawOptions) =>
      Effect.gen(function*() {
        const placement = chunks.row(id)?.placement ?? []
        if (placement.length === 0) return { failed: [{ provider: "-", detail: "not in the manifest (deleted by gc?)" }] } as Outcome
        const copies = placement.map((name) => ({ name, p: providers.get(name) }))
        // A copy on a provider without cold storage can be read as it is.
        if (copies.some((c) => c.p !== undefined && c.p.thaw === undefined)) return { state: "not-cold" } as Outcome
        const failed: Array<{ provider: string; detail: string }> = []
        for (const { name, p } of copies) {
          if (p?.thaw === undefined) {
            failed.push({ provider: name, detail: "provider is not in the config" })
            continue
          }
          const key = ObjectKeys.chunk(id)
          const r = yield* Effect.result(guardedCall(retry, name, "thaw", key, 0, p.thaw(key, options)))
          if (r._tag === "Success") return { state: r.success } as Outcome
          const e: StorageError = r.failure
          failed.push({ provider: name, detail: e.reason === "NotFound" ? "missing" : e.detail })
        }
        return { failed } as Outcome
      })

    const run = Effect.fn("Thaw.run")(function*(target: string, options: ThawOptions & { readonly stream?: boolean }) {
      const named = yield* manifest.resolveStreamOrBackup(target, options.stream === true)
      const stream = named._tag === "Stream" ? named.stream : undefined
      const backup = named._tag === "Backup" ? named.backup : undefined
      const ids = stream
        ? [...new Set((yield* manifest.streamChunks(stream.id)).map((c) => c.chunkId))]
        : yield* manifest.chunksOf(backup!.id)
      const outcomes = yield* Effect.forEach(ids, (id) => Effect.map(thawChunk(id, options), (o) => ({ id, o })), { concurrency: 8 })
      const count = (s: ThawState) => outcomes.filter(({ o }) => "state" in o && o.state === s).length
      return {
        ...(stream ? { stream: stream.name } : { backupId: backup!.id }),
        chunks: ids.length,
        days: options.days,
        tier: options.tier,
        requested: count("requested"),
        inProgress: count("in-progress"),
        ready: count("ready"),
        notCold: count("not-cold"),
        failed: outcomes.flatMap(({ id, o }) => ("failed" in o ? o.failed.map((f) => ({ chunk: id, ...f })) : []))
      }
    })

    return Thaw.of({ run })
  }))
}
