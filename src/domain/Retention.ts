import { hasTags } from "./BackupTags.ts"

/**
 * Retention policy as restic's `forget --keep-*`: walking backups newest first, `last` keeps the
 * N most recent; each time bucket (hour, day, ISO week, month, year) keeps the newest backup of
 * each of the N most recent buckets that have a backup; `within` keeps every backup newer than
 * that span before the newest one (not before now: a host that stopped backing up keeps its
 * last ones); `tags` keeps every backup that carries all the tags of one of its lists. A backup
 * is kept if any rule keeps it. Pure: times are given, buckets use the local time zone like restic.
 */
export interface RetentionPolicy {
  readonly last?: number | undefined
  readonly hourly?: number | undefined
  readonly daily?: number | undefined
  readonly weekly?: number | undefined
  readonly monthly?: number | undefined
  readonly yearly?: number | undefined
  readonly within?: Within | undefined
  readonly tags?: ReadonlyArray<ReadonlyArray<string>> | undefined
}

/** A span in calendar units, as restic's `--keep-within 1y6m2d3h`. */
export interface Within {
  readonly text: string
  readonly years: number
  readonly months: number
  readonly days: number
  readonly hours: number
}

/** `1y6m2d3h` (each part optional, in that order, at least one): a span; anything else: an error to show. */
export const parseWithin = (flag: string, text: string): Within | { readonly error: string } => {
  const m = /^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)d)?(?:(\d+)h)?$/.exec(text.trim())
  if (m === null || text.trim() === "") {
    return { error: `${flag} "${text}": give a span like 30d, 6m, 1y6m or 12h (y years, m months, d days, h hours, in that order)` }
  }
  const n = (i: number) => Number(m[i] ?? 0)
  return { text: text.trim(), years: n(1), months: n(2), days: n(3), hours: n(4) }
}

/** The time `within` before `time`, in local calendar arithmetic (a month back from 31 March is 3 March, as Go's AddDate). */
const before = (time: number, w: Within) => {
  const d = new Date(time)
  d.setFullYear(d.getFullYear() - w.years, d.getMonth() - w.months, d.getDate() - w.days)
  return d.getTime() - w.hours * 3_600_000
}

export interface Dated {
  readonly id: string
  readonly time: number
  readonly tags?: ReadonlyArray<string>
}

export interface RetentionDecision<A extends Dated> {
  readonly keep: ReadonlyArray<{ readonly item: A; readonly reasons: ReadonlyArray<string> }>
  readonly remove: ReadonlyArray<A>
}

const pad = (n: number) => String(n).padStart(2, "0")

/** ISO-8601 week: year of the week's Thursday, and the week number. */
const isoWeek = (d: Date) => {
  const t = new Date(d.getFullYear(), d.getMonth(), d.getDate())
  const day = (t.getDay() + 6) % 7
  t.setDate(t.getDate() - day + 3)
  const firstThursday = new Date(t.getFullYear(), 0, 4)
  const week = 1 + Math.round(((t.getTime() - firstThursday.getTime()) / 86400000 - 3 + ((firstThursday.getDay() + 6) % 7)) / 7)
  return `${t.getFullYear()}-W${pad(week)}`
}

const buckets: ReadonlyArray<readonly ["hourly" | "daily" | "weekly" | "monthly" | "yearly", string, (d: Date) => string]> = [
  ["hourly", "hourly", (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}`],
  ["daily", "daily", (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`],
  ["weekly", "weekly", isoWeek],
  ["monthly", "monthly", (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}`],
  ["yearly", "yearly", (d) => `${d.getFullYear()}`]
]

export const isEmptyPolicy = (p: RetentionPolicy) =>
  [p.last, p.hourly, p.daily, p.weekly, p.monthly, p.yearly].every((n) => n === undefined || n <= 0) &&
  (p.within === undefined || p.within.years + p.within.months + p.within.days + p.within.hours === 0) && (p.tags ?? []).length === 0

export const applyRetention = <A extends Dated>(items: ReadonlyArray<A>, policy: RetentionPolicy): RetentionDecision<A> => {
  const sorted = [...items].sort((a, b) => b.time - a.time || (a.id < b.id ? 1 : -1))
  const remaining = new Map<string, number>()
  const lastKey = new Map<string, string>()
  for (const [k] of buckets) remaining.set(k, policy[k] ?? 0)
  let last = policy.last ?? 0
  const newest = sorted[0]?.time
  const cutoff = policy.within !== undefined && newest !== undefined ? before(newest, policy.within) : undefined
  const keep: Array<{ item: A; reasons: Array<string> }> = []
  const remove: Array<A> = []
  for (const item of sorted) {
    const reasons: Array<string> = []
    if (last > 0) {
      last--
      reasons.push("last")
    }
    if (cutoff !== undefined && item.time > cutoff) reasons.push(`within ${policy.within!.text}`)
    for (const wanted of policy.tags ?? []) {
      if (hasTags(item.tags ?? [], wanted)) reasons.push(`tag ${wanted.join(",")}`)
    }
    const d = new Date(item.time)
    for (const [k, label, keyOf] of buckets) {
      const left = remaining.get(k)!
      if (left <= 0) continue
      const key = keyOf(d)
      if (lastKey.get(k) !== key) {
        lastKey.set(k, key)
        remaining.set(k, left - 1)
        reasons.push(`${label} ${key}`)
      }
    }
    if (reasons.length > 0) keep.push({ item, reasons })
    else remove.push(item)
  }
  return { keep, remove }
}
