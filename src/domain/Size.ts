/**
 * Byte sizes as people write them: `512M`, `1.5G`, `800K`, `4096`, `2MiB` (binary multiples,
 * as rclone, restic and s3duct use them). Pure.
 */
const units: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }

/** The number of bytes, or undefined when `text` is not a size. `perSecond` also accepts a `/s` suffix. */
export const parseBytes = (text: string, perSecond = false): number | undefined => {
  const m = (perSecond ? /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?(?:\/s)?\s*$/i : /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i)
    .exec(text)
  if (!m) return undefined
  return Math.floor(Number(m[1]) * units[m[2]!.toUpperCase()]!)
}

/** A size within [min, max], or a message saying what is wrong (for flags like `--chunk-size`). */
export const parseSize = (text: string, what: string, min: number, max: number): number | string => {
  const n = parseBytes(text)
  if (n === undefined) return `${what} "${text}" is not a size; use bytes like 64M, 1G or 512K`
  if (n < min || n > max) return `${what} ${text} is out of range; use between ${formatUnit(min)} and ${formatUnit(max)}`
  return n
}

const formatUnit = (n: number) => {
  for (const [u, v] of [["T", 1024 ** 4], ["G", 1024 ** 3], ["M", 1024 ** 2], ["K", 1024]] as const) {
    if (n >= v && n % v === 0) return `${n / v}${u}`
  }
  return `${n} bytes`
}
