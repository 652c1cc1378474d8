import { Effect } from "effect"
import { UserError } from "../../domain/Errors.ts"
import { Thaw } from "../../services/maintenance/Thaw.ts"
import type { ThawTier } from "../../services/storage/StorageProvider.ts"
import { unlock, withRepository } from "../Open.ts"
import { emit, ExitWith } from "../Output.ts"
import { rootCommand } from "../commands/shared.ts"

export interface ThawArgs {
  readonly id: string
  /** `--stream`: `id` names a stream, whatever backup it might also name. */
  readonly stream: boolean
  readonly days: number
  readonly tier: ThawTier
  readonly json: boolean
}

export const thaw = Effect.fn("cli.thaw")(function*({ id, stream, days, tier, json }: ThawArgs) {
  if (!Number.isInteger(days) || days < 1 || days > 36500) {
    return yield* new UserError({ detail: `--days ${days}: give a whole number of days from 1 to 36500 to keep the thawed copies` })
  }
  const opened = yield* unlock(yield* rootCommand)
  const r = yield* withRepository(opened, "thaw", false, Thaw.use((t) => t.run(id, { days, tier, stream })).pipe(Effect.provide(Thaw.layer)))
  const waiting = r.requested + r.inProgress
  const what = r.stream !== undefined ? `stream ${r.stream}` : `backup ${r.backupId}`
  const ref = r.stream ?? r.backupId!
  const readCommand = r.stream !== undefined ? `enigma get ${r.stream}` : `enigma restore ${r.backupId}`
  yield* emit(json, { ...r, readable: waiting === 0 && r.failed.length === 0 }, () =>
    [
      ...r.failed.slice(0, 20).map((f) => `could not thaw chunk ${f.chunk} on ${f.provider}: ${f.detail}`),
      ...(r.failed.length > 20 ? [`… and ${r.failed.length - 20} more`] : []),
      `${what}: ${r.chunks} chunks: ${r.requested} thaw requested now (tier ${tier}, for ${days} days), ` +
      `${r.inProgress} already thawing, ${r.ready} thawed and readable, ${r.notCold} not in cold storage` +
      (r.failed.length > 0 ? `, ${new Set(r.failed.map((f) => f.chunk)).size} failed` : ""),
      waiting > 0
        ? `thawing takes minutes (Expedited) to hours (Standard: 3-5 h, Bulk: 5-12 h; DEEP_ARCHIVE up to 48 h); run \`enigma thaw ${ref}\` again to see progress, and read it once nothing is thawing`
        : r.failed.length === 0
        ? `every chunk is readable: \`${readCommand}\` can run now`
        : ""
    ].filter((l) => l !== "").join("\n"))
  if (r.failed.length > 0) return yield* new ExitWith({ code: 1 })
})
