/**
 * For `restore --sparse`: which parts of a write hold data. A block of zeros, aligned to the
 * filesystem block in the file, is left as a hole rather than written, so a disk image or a
 * preallocated database file takes only the space its data needs. The file is then cut to its
 * full length (a hole at the end would not extend it).
 */

export const sparseBlock = 4096
const zeros = Buffer.alloc(sparseBlock)

const isZero = (bytes: Uint8Array, start: number, end: number): boolean =>
  zeros.compare(Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start), 0, end - start, 0, end - start) === 0

/**
 * The runs of `bytes` (written at `position` in the file) to write, as [start, end) offsets into
 * `bytes`, in order: everything except whole blocks of zeros. A block cut by either end of `bytes`
 * is written if it is not all zeros, and left out if it is (its other part is someone else's).
 */
export const dataRuns = (bytes: Uint8Array, position: number): Array<readonly [number, number]> => {
  const runs: Array<[number, number]> = []
  let start = 0
  while (start < bytes.length) {
    // The end of the block that holds file offset position + start.
    const end = Math.min(bytes.length, sparseBlock * Math.floor((position + start) / sparseBlock + 1) - position)
    if (!isZero(bytes, start, end)) {
      const last = runs[runs.length - 1]
      if (last !== undefined && last[1] === start) last[1] = end
      else runs.push([start, end])
    }
    start = end
  }
  return runs
}
