import { S3Error, s3Error } from "./S3Error.ts"

/** The bytes a GET or HEAD selects: inclusive [start, last], and the part count when chosen by part. */
export interface SelectedRange {
  readonly start: number
  readonly last: number
  /** x-amz-mp-parts-count: set when a partNumber selected a part of a multipart object. */
  readonly partsCount?: number | undefined
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` → inclusive [start, end]; "invalid" when unsatisfiable; undefined: ignore the header. */
export const parseRange = (value: string, size: number): readonly [number, number] | "invalid" | undefined => {
  const m = /^bytes=(\d*)-(\d*)$/.exec(value.trim())
  if (!m || (m[1] === "" && m[2] === "")) return undefined
  if (m[1] === "") {
    const n = Number(m[2])
    if (n === 0 || size === 0) return "invalid"
    return [Math.max(0, size - n), size - 1]
  }
  const start = Number(m[1])
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1)
  if (start >= size || (m[2] !== "" && Number(m[2]) < start)) return "invalid"
  return [start, end]
}

/**
 * GET/HEAD `?partNumber=N`, as S3 answers it: the bytes of part N of a multipart object (with the
 * part count), or the whole object as its only part when it was a single PUT or a copy. Part
 * numbers outside 1–10000 are InvalidArgument; past the object's last part, InvalidPartNumber.
 */
export const partRange = (
  partNumber: string,
  size: number,
  partSizes: ReadonlyArray<number> | undefined
): SelectedRange | S3Error => {
  const n = /^\d{1,5}$/.test(partNumber) ? Number(partNumber) : NaN
  if (!(n >= 1 && n <= 10_000)) {
    return s3Error("InvalidArgument", 400, `Part number must be an integer between 1 and 10000, inclusive (got ${JSON.stringify(partNumber)})`)
  }
  const sizes = partSizes ?? [size]
  if (n > sizes.length) {
    return s3Error("InvalidPartNumber", 416, `The requested partnumber is not satisfiable: the object has ${sizes.length} part(s)`)
  }
  const start = sizes.slice(0, n - 1).reduce((a, b) => a + b, 0)
  return { start, last: start + sizes[n - 1]! - 1, ...(partSizes !== undefined ? { partsCount: partSizes.length } : {}) }
}

/**
 * What a GET/HEAD reads: a partNumber, a Range header, or (undefined) the whole object. Both at
 * once is an error, as on S3.
 */
export const selectRange = (
  partNumber: string | undefined,
  rangeHeader: string | undefined,
  size: number,
  partSizes: ReadonlyArray<number> | undefined
): SelectedRange | S3Error | undefined => {
  if (partNumber !== undefined) {
    if (rangeHeader !== undefined) return s3Error("InvalidRequest", 400, "Cannot specify both Range header and partNumber query parameter")
    return partRange(partNumber, size, partSizes)
  }
  const range = rangeHeader !== undefined ? parseRange(rangeHeader, size) : undefined
  if (range === "invalid") return s3Error("InvalidRange", 416, "The requested range is not satisfiable")
  return range === undefined ? undefined : { start: range[0], last: range[1] }
}
