import { Effect, Option } from "effect"
import { UserError } from "../../domain/Errors.ts"
import { defaultGroupBy, isEveryBackup, parseGroupBy } from "../../domain/BackupFilter.ts"
import { parseBackupTags } from "../../domain/BackupTags.ts"
import { parseReadSubset } from "../../domain/ReadSubset.ts"
import { isEmptyPolicy, parseWithin, type RetentionPolicy } from "../../domain/Retention.ts"
import { removeLocks } from "../../services/Lock.ts"
import { Maintenance } from "../../services/maintenance/Maintenance.ts"
import type { Unchecked } from "../../services/maintenance/ProviderMetadata.ts"
import { type ChunkReferrers, Manifest } from "../../services/manifest/Manifest.ts"
import { repairRepository } from "../../services/maintenance/Repair.ts"
import { Pipe } from "../../services/pipe/Pipe.ts"
import { readAgeIdentities } from "../AgeIdentities.ts"
import { unlock, withRepository } from "../Open.ts"
import { emit, ExitWith, formatBytes, formatDuration, formatTime, makeProgress, print } from "../Output.ts"
import { rootCommand } from "../commands/shared.ts"
import { backupFilter } from "./backupFilter.ts"
import { excludePatterns, type ExcludeFlags } from "./excludeFlags.ts"
import { rewriteBackups } from "../../services/maintenance/Rewrite.ts"

/** What a chunk's bytes belong to, for a line about a bad or lost chunk. */
const affects = (r: ChunkReferrers) => {
  const parts = [
    ...(r.backups.length > 0 ? [`backup(s) ${r.backups.join(", ")}`] : []),
    ...(r.streams.length > 0 ? [`stream(s) ${r.streams.join(", ")}`] : []),
    ...(r.objects.length > 0 ? [`object(s) ${r.objects.slice(0, 20).join(", ")}${r.objects.length > 20 ? ", …" : ""}`] : []),
    ...(r.uploads.length > 0 ? [`unfinished upload(s) ${r.uploads.join(", ")}`] : [])
  ]
  return parts.length > 0 ? parts.join("; ") : "nothing committed"
}

/** After a verify found bad copies. */
const repairHint = "where another copy is intact (copies = 2 or more), `enigma repair` writes them again from it"

/**
 * A verify's lines about what it could not look at: each provider that did not answer (none of
 * its copies checked), and the chunks with no copy anywhere else.
 */
const uncheckedLines = (r: Unchecked) => [
  ...r.unreachable.map((u) => `${u.problem}; so none of the copies on ${u.provider} was checked: run verify again once it answers`),
  ...(r.unchecked > 0 ? [`${r.unchecked} chunk(s) have no copy on a provider that answered: not checked`] : [])
]
/** How a verify with nothing bad ends: "no errors" only when everything could be looked at. */
const cleanEnd = (r: Unchecked, otherProblems = 0) =>
  r.unreachable.length > 0 ? "no bad copies among those checked" : otherProblems > 0 ? "no bad chunks" : "no errors"

export const verify = Effect.fn("cli.verify")(function*({ id: given, stream: onlyStream, readData, readDataSubset, json, ageIdentities: identityFiles }: {
  readonly id: Option.Option<string>
  /** `--stream`: `id` names a stream, whatever backup it might also name. */
  readonly stream: boolean
  readonly readData: boolean
  readonly readDataSubset: Option.Option<string>
  readonly json: boolean
  readonly ageIdentities: ReadonlyArray<string>
}) {
  const subset = Option.isSome(readDataSubset) ? parseReadSubset(readDataSubset.value) : undefined
  if (subset !== undefined && "error" in subset) return yield* new UserError({ detail: subset.error })
  if (subset !== undefined && Option.isSome(given)) {
    return yield* new UserError({ detail: "--read-data-subset checks the whole repository: leave out the backup or stream (or use --read-data for all of it)" })
  }
  const ageIdentities = yield* readAgeIdentities(identityFiles)
  const opened = yield* unlock(yield* rootCommand)
  const checked = readData ? "read, decrypted and re-hashed" : "present"
  // On a terminal: how many chunks are checked, how many were bad, and how long is left.
  const started = Date.now()
  let seen = { checked: 0, total: 0, bad: 0 }
  const line = makeProgress(() => {
    const perSecond = seen.checked / Math.max((Date.now() - started) / 1000, 0.001)
    const eta = perSecond > 0 ? `, ETA ${formatDuration(((seen.total - seen.checked) / perSecond) * 1000)}` : ""
    return `${seen.checked} of ${seen.total} chunks checked (${((100 * seen.checked) / Math.max(seen.total, 1)).toFixed(0)}%), ${seen.bad} bad${eta}`
  })
  const onProgress = (c: number, total: number, b: number) => {
    seen = { checked: c, total, bad: b }
    line.update()
  }
  const bad = yield* withRepository(opened, "verify", false, Effect.gen(function*() {
    if (Option.isNone(given)) {
      const report = yield* Maintenance.use((m) => m.verifyRepository(subset ?? readData, onProgress)).pipe(Effect.ensuring(Effect.sync(line.done)))
      const ageNote = report.presenceOnly > 0 ? ` (${report.presenceOnly} of them, in streams encrypted to age recipients, checked for presence only: verify those streams with --age-identity)` : ""
      const providerLines = report.providers.map((p) =>
        p.fix !== undefined ? `${p.problem}: ${p.fix}` : `provider ${p.provider}: ${p.problem}; \`enigma repair\` writes it again`)
      yield* emit(json, { ...report, ok: report.bad.length === 0 && report.providers.length === 0 && report.unreachable.length === 0 }, () =>
        [
          ...uncheckedLines(report),
          ...providerLines,
          ...(report.bad.length === 0
            ? [report.subset !== undefined
              ? `repository: ${report.chunks} chunks present, ${report.subset.read} of them (subset ${report.subset.spec}) read, decrypted and re-hashed; ${cleanEnd(report, providerLines.length)}`
              : `repository: ${report.chunks} chunks ${checked}${ageNote}; ${cleanEnd(report, providerLines.length)}`]
            : [
              ...report.bad.map((r) => `bad chunk ${r.chunk} on ${r.provider}: ${r.problem}; affects ${affects(r)}`),
              `repository: ${report.bad.length} of ${report.chunks} chunks are bad; ${repairHint}`
            ])
        ].join("\n"))
      return report.bad.length + report.providers.length + report.unreachable.length
    }
    const target = yield* Manifest.use((m) => m.resolveStreamOrBackup(given.value, onlyStream))
    if (target._tag === "Stream") {
      const report = yield* (yield* Pipe).verify(target.stream.name, readData, { ageIdentities, onProgress }).pipe(Effect.ensuring(Effect.sync(line.done)))
      // An interrupted put's chunks may all be sound, but the stream is not all there: a script
      // that checks a dump with `verify` before relying on it must not be told "no errors".
      const incomplete = target.stream.status === "running"
      const incompleteLine =
        `stream ${report.name} is incomplete: its put was interrupted after ${target.stream.bytes} bytes; run the same put again to resume it, or \`enigma forget ${report.name}\``
      yield* emit(json, { stream: report.name, ...report, complete: !incomplete, ok: report.bad.length === 0 && !incomplete && report.unreachable.length === 0 }, () =>
        [
          ...uncheckedLines(report),
          ...(report.bad.length === 0
            ? incomplete
              ? [`stream ${report.name}: the ${report.chunks} chunks stored so far: ${checked}, chain intact`, incompleteLine]
              : [`stream ${report.name}: ${report.chunks} chunks ${checked}, chain intact; ${cleanEnd(report)}`]
            : [
              ...report.bad.map((r) => `bad chunk ${r.index}${r.chunk ? ` (${r.chunk})` : ""} on ${r.provider}: ${r.problem}`),
              `stream ${report.name}: ${report.bad.length} problem(s) in ${report.chunks} chunks`,
              ...(incomplete ? [incompleteLine] : [])
            ])
        ].join("\n"))
      return report.bad.length + (incomplete ? 1 : 0) + report.unreachable.length
    }
    const report = yield* Maintenance.use((m) => m.verify(target.backup.id, readData, onProgress)).pipe(Effect.ensuring(Effect.sync(line.done)))
    yield* emit(json, { ...report, ok: report.bad.length === 0 && report.unreachable.length === 0 }, () =>
      [
        ...uncheckedLines(report),
        ...(report.bad.length === 0
          ? [`backup ${report.backupId}: ${report.chunks} chunks ${checked}; ${cleanEnd(report)}`]
          : [
            ...report.bad.map((r) =>
              `bad chunk ${r.chunk} on ${r.provider}: ${r.problem}; affects ${r.files.length} file(s): ${r.files.slice(0, 20).join(", ")}${r.files.length > 20 ? ", …" : ""}`),
            `backup ${report.backupId}: ${report.bad.length} of ${report.chunks} chunks are bad; ${repairHint}`
          ])
      ].join("\n"))
    return report.bad.length + report.unreachable.length
  }))
  if (bad > 0) return yield* new ExitWith({ code: 1 })
})

export interface ForgetArgs {
  readonly ids: ReadonlyArray<string>
  /** `--stream`: the ids are stream names, whatever backups they might also name. */
  readonly stream: boolean
  readonly last: Option.Option<number>
  readonly hourly: Option.Option<number>
  readonly daily: Option.Option<number>
  readonly weekly: Option.Option<number>
  readonly monthly: Option.Option<number>
  readonly yearly: Option.Option<number>
  readonly within: Option.Option<string>
  readonly keepTags: ReadonlyArray<string>
  readonly tags: ReadonlyArray<string>
  readonly hosts: ReadonlyArray<string>
  readonly paths: ReadonlyArray<string>
  readonly groupBy: Option.Option<string>
  readonly dryRun: boolean
  readonly prune: boolean
  readonly json: boolean
}

export const forget = Effect.fn("cli.forget")(function*(a: ForgetArgs) {
  const counts = {
    last: Option.getOrUndefined(a.last),
    hourly: Option.getOrUndefined(a.hourly),
    daily: Option.getOrUndefined(a.daily),
    weekly: Option.getOrUndefined(a.weekly),
    monthly: Option.getOrUndefined(a.monthly),
    yearly: Option.getOrUndefined(a.yearly)
  }
  for (const [k, v] of Object.entries(counts)) {
    if (v !== undefined && v < 0) return yield* new UserError({ detail: `--keep-${k} must be 0 or more` })
  }
  const within = Option.isSome(a.within) ? parseWithin("--keep-within", a.within.value) : undefined
  if (within !== undefined && "error" in within) return yield* new UserError({ detail: within.error })
  const keepTags: Array<Array<string>> = []
  for (const value of a.keepTags) {
    const list = parseBackupTags([value], "--keep-tag")
    if ("error" in list) return yield* new UserError({ detail: list.error })
    keepTags.push(list)
  }
  const policy: RetentionPolicy = { ...counts, within, tags: keepTags }
  const byPolicy = !isEmptyPolicy(policy)
  const filter = yield* backupFilter(a)
  if (!isEveryBackup(filter) && !byPolicy) {
    return yield* new UserError({ detail: "--tag, --host and --path select the backups a --keep-* policy applies to; with backup ids, name the backups themselves" })
  }
  const keepGiven = Object.values(counts).some((v) => v !== undefined) || within !== undefined || keepTags.length > 0
  if (!byPolicy && keepGiven && a.ids.length === 0) {
    return yield* new UserError({ detail: "a --keep-* policy of zeros keeps nothing (it would forget every backup) and is not applied; give a count of 1 or more, or name the backups to forget" })
  }
  if (byPolicy === (a.ids.length > 0)) {
    return yield* new UserError({ detail: "forget takes either backup ids / stream names or --keep-* options (one of the two)" })
  }
  const groupBy = Option.isSome(a.groupBy) ? parseGroupBy(a.groupBy.value) : defaultGroupBy
  if ("error" in groupBy) return yield* new UserError({ detail: groupBy.error })
  if (Option.isSome(a.groupBy) && !byPolicy) return yield* new UserError({ detail: "--group-by groups backups for a --keep-* policy; with backup ids, name the backups themselves" })
  const opened = yield* unlock(yield* rootCommand)
  const { r, streams, pruned } = yield* withRepository(opened, "forget", !a.dryRun, Effect.gen(function*() {
    const pipe = yield* Pipe
    // Arguments that name a stream forget it; the others are backups (resolved: not both).
    const streamNames: Array<string> = []
    const backupIds: Array<string> = []
    for (const id of a.ids) {
      const target = yield* Manifest.use((m) => m.resolveStreamOrBackup(id, a.stream))
      if (target._tag === "Stream") streamNames.push(target.stream.name)
      else backupIds.push(target.backup.id)
    }
    const streams = yield* pipe.forget(streamNames, a.dryRun)
    const r = byPolicy || backupIds.length > 0
      ? yield* Maintenance.use((m) => m.forget(byPolicy ? { policy, filter, groupBy } : { ids: backupIds }, a.dryRun))
      : { dryRun: a.dryRun, removed: [], kept: [] }
    // --prune: gc under the same lock, as restic's forget --prune.
    const pruned = a.prune && !a.dryRun ? yield* Maintenance.use((m) => m.gc(false)) : undefined
    return { r, streams, pruned }
  }))
  const total = r.removed.length + streams.length
  // A policy narrowed by a filter that selects nothing keeps everything: likely a typo in a host,
  // tag or path, which a nightly forget would otherwise repeat unnoticed while the disk fills.
  if (byPolicy && !isEveryBackup(filter) && r.removed.length === 0 && r.kept.length === 0) {
    const given = [...filter.tags.map((t) => `--tag ${t}`), ...filter.hosts.map((h) => `--host ${h}`), ...filter.paths.map((p) => `--path ${p}`)]
    process.stderr.write(`warning: no backup matches ${given.join(" ")}, so the policy applied to none; see \`enigma list\` for the hosts, paths and tags there are\n`)
  }
  yield* emit(a.json, {
    dryRun: r.dryRun,
    removed: r.removed.map((x) => x.id),
    removedStreams: streams.map((s) => s.name),
    kept: r.kept.map((k) => ({ id: k.id, reasons: k.reasons })),
    ...(pruned !== undefined ? { gc: { ...pruned, deletedChunks: pruned.deletedChunks.map((c) => c.id) } } : {})
  }, () =>
    [
      ...r.kept.map((k) => `keep   ${k.id}  ${formatTime(k.time)}  (${k.reasons.join(", ")})`),
      ...r.removed.map((x) => `${a.dryRun ? "would remove" : "remove"} ${x.id}  ${formatTime(x.time)}`),
      ...streams.map((s) => `${a.dryRun ? "would remove" : "remove"} stream ${s.name}${s.status === "running" ? " (interrupted)" : ""}  ${formatTime(s.startedAt)}`),
      `${total} backup(s)/stream(s) ${a.dryRun ? "would be " : ""}forgotten${total > 0 && !a.dryRun && pruned === undefined ? "; run `enigma gc` to reclaim their space" : ""}`,
      ...(pruned !== undefined ? [`gc: deleted ${pruned.deletedChunks.length} unreferenced chunk(s), ${formatBytes(pruned.reclaimedBytes)}`] : [])
    ].join("\n"))
})

export interface TagArgs {
  readonly ids: ReadonlyArray<string>
  readonly add: ReadonlyArray<string>
  readonly remove: ReadonlyArray<string>
  readonly set: ReadonlyArray<string>
  readonly tags: ReadonlyArray<string>
  readonly hosts: ReadonlyArray<string>
  readonly paths: ReadonlyArray<string>
  readonly dryRun: boolean
  readonly json: boolean
}

/** A list flag's labels, or the user's error naming the flag. */
const labelsOf = (values: ReadonlyArray<string>, flag: string) =>
  Effect.gen(function*() {
    const labels = parseBackupTags(values, flag)
    if ("error" in labels) return yield* new UserError({ detail: labels.error })
    return labels
  })

export const tag = Effect.fn("cli.tag")(function*(a: TagArgs) {
  const add = yield* labelsOf(a.add, "--add")
  const remove = yield* labelsOf(a.remove, "--remove")
  // `--set ''` (and only that) empties the labels.
  const clear = a.set.length > 0 && a.set.every((v) => v === "")
  const set = a.set.length === 0 ? undefined : clear ? [] : yield* labelsOf(a.set, "--set")
  const filter = yield* backupFilter(a)
  if (set === undefined && add.length === 0 && remove.length === 0) {
    return yield* new UserError({ detail: "say what to change: --add LABEL, --remove LABEL or --set LABEL (--set '' removes every label)" })
  }
  if (set !== undefined && (add.length > 0 || remove.length > 0)) {
    return yield* new UserError({ detail: "--set replaces every label: give it alone, or use --add and --remove" })
  }
  const both = add.find((t) => remove.includes(t))
  if (both !== undefined) return yield* new UserError({ detail: `"${both}" is both in --add and in --remove; give it in one of them` })
  if (a.ids.length === 0 && isEveryBackup(filter)) {
    return yield* new UserError({ detail: "name the backups to change (ids, or latest), or select them with --tag, --host or --path" })
  }
  const opened = yield* unlock(yield* rootCommand)
  const r = yield* withRepository(opened, "tag", !a.dryRun, Maintenance.use((m) => m.retag({ ids: a.ids, filter }, { add, remove, set }, a.dryRun)))
  const changed = r.backups.filter((b) => JSON.stringify(b.before) !== JSON.stringify(b.after))
  const list = (t: ReadonlyArray<string>) => `[${t.join(",")}]`
  yield* emit(a.json, {
    dryRun: r.dryRun,
    changed: changed.map((b) => ({ id: b.id, before: b.before, after: b.after })),
    unchanged: r.backups.filter((b) => !changed.includes(b)).map((b) => b.id)
  }, () =>
    [
      ...changed.map((b) => `${a.dryRun ? "would tag" : "tagged"} ${b.id}  ${formatTime(b.time)}  ${list(b.before)} -> ${list(b.after)}`),
      `${changed.length} backup(s) ${a.dryRun ? "would be " : ""}changed, ${r.backups.length - changed.length} already so`
    ].join("\n"))
})

export const gc = Effect.fn("cli.gc")(function*({ dryRun, json }: { readonly dryRun: boolean; readonly json: boolean }) {
  const opened = yield* unlock(yield* rootCommand)
  const r = yield* withRepository(opened, "gc", true, Maintenance.use((m) => m.gc(dryRun)))
  yield* emit(json, { ...r, deletedChunks: r.deletedChunks.map((c) => c.id) }, () =>
    [
      ...(r.abandonedBackups.length > 0 ? [`${dryRun ? "would abandon" : "abandoned"} ${r.abandonedBackups.length} incomplete backup(s): ${r.abandonedBackups.join(", ")}`] : []),
      ...(dryRun ? r.deletedChunks.map((c) => `would delete chunk ${c.id} (${formatBytes(c.storedSize)})`) : []),
      `${dryRun ? "would delete" : "deleted"} ${r.deletedChunks.length} unreferenced chunk(s), ${formatBytes(r.reclaimedBytes)}; ${r.orphanObjects.length} orphaned object(s)` +
        (r.incompleteWrites.length > 0 ? `; ${dryRun ? "would remove" : "removed"} ${r.incompleteWrites.length} incomplete write(s) left by a killed writer` : "")
    ].join("\n"))
})

/** At most this many lines of one kind in the text report (--json lists them all). */
const shownLines = 20
const some = <A>(items: ReadonlyArray<A>, line: (a: A) => string) => [
  ...items.slice(0, shownLines).map(line),
  ...(items.length > shownLines ? [`… and ${items.length - shownLines} more (--json lists them all)`] : [])
]
const copiesWord = (n: number) => `${n} ${n === 1 ? "copy" : "copies"}`

/** `enigma repair`: every copy back from an intact one (Repair.ts). */
export const repair = Effect.fn("cli.repair")(function*({ readData, dryRun, json }: { readonly readData: boolean; readonly dryRun: boolean; readonly json: boolean }) {
  const opened = yield* unlock(yield* rootCommand)
  let seen = { checked: 0, total: 0 }
  const line = makeProgress(() => `${seen.checked} of ${seen.total} chunks checked (${((100 * seen.checked) / Math.max(seen.total, 1)).toFixed(0)}%)`)
  const r = yield* withRepository(
    opened,
    "repair",
    !dryRun,
    repairRepository({ readData, dryRun }, (checked, total) => {
      seen = { checked, total }
      line.update()
    }).pipe(Effect.ensuring(Effect.sync(line.done)))
  )
  const ok = r.lost.length === 0 && r.failed.length === 0
  yield* emit(json, { ...r, ok }, () =>
    [
      ...r.keyfile.map((p) => `${dryRun ? "would write" : "wrote"} the keyfile to ${p}`),
      ...r.log.map((l) => `${dryRun ? "would seal" : "sealed"} the log again on ${l.provider}, from event ${l.from}`),
      ...some(r.copied, (c) => `${dryRun ? "would copy" : "copied"} chunk ${c.chunk} to ${c.provider} (${c.why})`),
      ...some(r.dropped, (d) => `${dryRun ? "would drop" : "dropped"} chunk ${d.chunk}'s copy on ${d.provider} (${d.why})`),
      ...r.lost.map((l) => `lost chunk ${l.chunk}: no intact copy (${l.problems}); it holds data of ${affects(l)}`),
      ...some(r.failed, (f) => `could not repair ${f.chunk === "" ? "" : `chunk ${f.chunk} `}on ${f.provider}: ${f.detail}`),
      `${r.chunks} chunk(s) checked (${readData ? "read, decrypted and re-hashed" : "present with their size"}); ` +
      `${copiesWord(r.copied.length)} ${dryRun ? "would be " : ""}written (${formatBytes(r.copiedBytes)}), ${r.dropped.length} dropped, ` +
      `${r.lost.length} chunk(s) lost, ${r.failed.length} failed` + (dryRun ? "; dry run: nothing was changed" : "")
    ].join("\n"))
  if (r.lost.length > 0) {
    return yield* new UserError({
      detail: `${r.lost.length} chunk(s) have no intact copy left (listed above): restore (or get) what still reads, or forget what holds them; if a provider that held them was taken out of the config, put it back with drain = true and run \`enigma repair\` again`
    })
  }
  if (r.failed.length > 0) {
    return yield* new UserError({ detail: `${r.failed.length} copies could not be checked or written (listed above); run \`enigma repair\` again once the providers answer` })
  }
})

export const unlockLocks = Effect.fn("cli.unlock")(function*({ all }: { readonly all: boolean }) {
  const opened = yield* unlock(yield* rootCommand)
  const { removed, live } = yield* removeLocks(opened.providers, all)
  yield* print([
    ...(removed.length === 0 ? ["no stale locks"] : removed.map((r) => `removed lock: ${r}`)),
    // A live one is left: say whose, so nobody removes it with --remove-all while it runs.
    ...live.map((l) => `left the live lock of ${l}: it is running (--remove-all removes it all the same)`)
  ].join("\n"))
})

/** restic's `rewrite --exclude`: backups recorded again without what matches (see Rewrite.ts). */
export const rewrite = Effect.fn("cli.rewrite")(function*(a: ExcludeFlags & {
  readonly ids: ReadonlyArray<string>
  readonly tags: ReadonlyArray<string>
  readonly hosts: ReadonlyArray<string>
  readonly paths: ReadonlyArray<string>
  readonly forget: boolean
  readonly dryRun: boolean
  readonly json: boolean
}) {
  const { rules } = yield* excludePatterns(a)
  if (rules.length === 0) {
    return yield* new UserError({ detail: "rewrite needs something to leave out: --exclude PATTERN (or --iexclude, --exclude-file), as restore --exclude matches stored paths" })
  }
  const filter = yield* backupFilter(a)
  const opened = yield* unlock(yield* rootCommand)
  const r = yield* withRepository(opened, "rewrite", !a.dryRun, rewriteBackups({ ids: a.ids, filter }, rules, { dryRun: a.dryRun, forget: a.forget }))
  const changed = r.backups.filter((b) => b.removed > 0)
  yield* emit(a.json, r, () =>
    [
      ...r.backups.map((b) =>
        b.removed === 0
          ? `backup ${b.id}: nothing matches; left as it is`
          : `backup ${b.id}${b.newId !== null ? ` → ${b.newId}` : ""}: ${b.removed} entries${b.removedBytes > 0 ? ` (${formatBytes(b.removedBytes)} of files)` : ""} ${r.dryRun ? "would be" : "were"} left out${b.forgotten ? "; the original forgotten" : ""}`
      ),
      r.backups.length === 0
        ? "no backup matches the filter"
        : r.dryRun
        ? `dry run: ${changed.length} of ${r.backups.length} backup(s) would be rewritten; nothing was changed`
        : `${changed.length} of ${r.backups.length} backup(s) rewritten` +
          (changed.length > 0 ? (a.forget ? "; run `enigma gc` to delete the chunks no backup references any more" : "; the originals are kept: `enigma forget ID` them (or rewrite with --forget), then `enigma gc`") : "")
    ].join("\n"))
})
