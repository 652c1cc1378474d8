/**
 * Retention policy as restic's `forget --keep-*`: walking backups newest first, `last` keeps the
 * N most recent; each time bucket (hour, day, ISO week, month, year) keeps the newest backup of
 * each of the N most recent buckets that have a backup. A backup is kept if any rule keeps it.
 * Pure: times are given, buckets use the local time zone like restic.
 */
export interface RetentionPolicy {
  readonly last?: number | undefined
  readonly hourly?: number | undefined
  readonly daily?: number | undefined
  readonly weekly?: number | undefined
  readonly monthly?: number | undefined
  readonly yearly?: number | undefined
}

export interface Dated {
  readonly id: string
  readonly time: number
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

const buckets: ReadonlyArray<readonly [keyof RetentionPolicy, string, (d: Date) => string]> = [
  ["hourly", "hourly", (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}`],
  ["daily", "daily", (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`],
  ["weekly", "weekly", isoWeek],
  ["monthly", "monthly", (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}`],
  ["yearly", "yearly", (d) => `${d.getFullYear()}`]
]

export const isEmptyPolicy = (p: RetentionPolicy) =>
  [p.last, p.hourly, p.daily, p.weekly, p.monthly, p.yearly].every((n) => n === undefined || n <= 0)

export const applyRetention = <A extends Dated>(items: ReadonlyArray<A>, policy: RetentionPolicy): RetentionDecision<A> => {
  const sorted = [...items].sort((a, b) => b.time - a.time || (a.id < b.id ? 1 : -1))
  const remaining = new Map<string, number>()
  const lastKey = new Map<string, string>()
  for (const [k] of buckets) remaining.set(k, policy[k] ?? 0)
  let last = policy.last ?? 0
  const keep: Array<{ item: A; reasons: Array<string> }> = []
  const remove: Array<A> = []
  for (const item of sorted) {
    const reasons: Array<string> = []
    if (last > 0) {
      last--
      reasons.push("last")
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
