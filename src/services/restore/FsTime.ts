/**
 * A recorded mtime (milliseconds since 1970, negative before it) as Node's utimes, futimes and
 * lutimes take it.
 *
 * Why: given a negative number of seconds, Node sets the current time instead (its
 * toUnixTimestamp treats a negative number as "now"), so a file from before 1970 came back dated
 * the day of the restore. A numeric string, which the same functions take (documented: "a numeric
 * string like '123456789.0'"), is passed on as its number, negative too, and as finely as a
 * number; a Date would be, but only to the millisecond. So: a number from 1970 on, its string
 * before.
 *
 * Refers to nothing outside itself: its source text also runs in SmallFileWriter's workers.
 */
export function fsTime(mtimeMs: number): number | string {
  return mtimeMs >= 0 ? mtimeMs / 1000 : String(mtimeMs / 1000)
}
