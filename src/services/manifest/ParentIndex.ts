import type { Extent, FileEntry } from "../../domain/Events.ts"

/** A file of a parent backup, as a re-backup's unchanged-file check needs it. */
export interface ParentFile {
  readonly size: number
  readonly mtimeMs: number
  readonly ino: number
  readonly ctimeMs: number
  /** Its extents, made on each call (the caller owns them). */
  readonly extents: () => Array<Extent>
  /** Its extended attributes (FileEntry.xattrs), made on each call; undefined: none. */
  readonly xattrs: () => FileEntry["xattrs"]
}

const rowsPerBlock = 4096
/** Per row: size, mtimeMs, ino, ctimeMs, then for a file of one extent its chunk's number, offset, length. */
const width = 7

/** `[["<chunk id>",<offset>,<length>]]`, as the manifest writes a file of one extent. */
const oneExtent = /^\[\["([0-9a-f]{64})",(\d+),(\d+)\]\]$/

/**
 * Regular files of a parent backup by path, for a re-backup to find those it need not read: a
 * page of them at a time (ParentWindow.ts).
 *
 * Why compact: as an object with its extents' JSON each file took ~240 bytes. Here a file is a
 * path, a row of numbers in a block, and, for the usual file of one extent, its chunk's number in
 * a table of chunk ids; other files keep their extents' JSON.
 */
export class ParentIndex {
  private readonly rows = new Map<string, number>()
  private readonly blocks: Array<Float64Array> = []
  private readonly chunkIds: Array<string> = []
  private readonly chunkNumbers = new Map<string, number>()
  /** Rows whose extents are not one extent (none, several, or a form not parsed here). */
  private readonly otherExtents = new Map<number, string>()
  /** Rows with extended attributes: their JSON, as the manifest stores it. */
  private readonly xattrsJson = new Map<number, string>()

  get size(): number {
    return this.rows.size
  }

  /** Adds a file: its stat fields, and its extents and extended attributes as the manifest stores them (JSON). */
  add(path: string, size: number, mtimeMs: number, ino: number, ctimeMs: number, extentsJson: string, xattrsJson: string | null): void {
    const row = this.rows.size
    if (row % rowsPerBlock === 0) this.blocks.push(new Float64Array(rowsPerBlock * width))
    const b = this.blocks[this.blocks.length - 1]!
    const o = (row % rowsPerBlock) * width
    b[o] = size
    b[o + 1] = mtimeMs
    b[o + 2] = ino
    b[o + 3] = ctimeMs
    const one = oneExtent.exec(extentsJson)
    if (one !== null) {
      const id = one[1]!
      let n = this.chunkNumbers.get(id)
      if (n === undefined) {
        n = this.chunkIds.length
        this.chunkIds.push(id)
        this.chunkNumbers.set(id, n)
      }
      b[o + 4] = n
      b[o + 5] = Number(one[2])
      b[o + 6] = Number(one[3])
    } else {
      b[o + 4] = -1
      this.otherExtents.set(row, extentsJson)
    }
    if (xattrsJson !== null) this.xattrsJson.set(row, xattrsJson)
    this.rows.set(path, row)
  }

  get(path: string): ParentFile | undefined {
    const row = this.rows.get(path)
    if (row === undefined) return undefined
    const b = this.blocks[Math.floor(row / rowsPerBlock)]!
    const o = (row % rowsPerBlock) * width
    const chunk = b[o + 4]!
    const extents = chunk >= 0
      ? (): Array<Extent> => [[this.chunkIds[chunk]!, b[o + 5]!, b[o + 6]!]]
      : (): Array<Extent> => JSON.parse(this.otherExtents.get(row)!) as Array<Extent>
    const xattrs = this.xattrsJson.get(row)
    return {
      size: b[o]!,
      mtimeMs: b[o + 1]!,
      ino: b[o + 2]!,
      ctimeMs: b[o + 3]!,
      extents,
      xattrs: () => (xattrs === undefined ? undefined : JSON.parse(xattrs) as FileEntry["xattrs"])
    }
  }
}
