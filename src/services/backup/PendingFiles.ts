import type { Extent, FileEntry } from "../../domain/Events.ts"

/**
 * The files of a backup whose bytes are in the chunk stream but not yet in chunks with ids, in
 * stream order (first in, first out): each becomes a FileEntry, with its extents, once the chunks
 * covering its byte range are stored.
 *
 * Why compact: how many wait depends on the bytes in flight (read blocks with the cut worker, the
 * chunk being cut, up to 16 MiB) over the size of a file, so a tree of tiny files has hundreds
 * of thousands waiting (500,000 files of 150 bytes: ~300,000). As FileEntry objects (with their
 * numbers boxed) they took ~350 bytes each and, living long enough to be promoted, made most of
 * a backup's old generation. Here a file is a path and a row of numbers in a block of rows.
 */
const rowsPerBlock = 4096
/** Per row: mode, mtimeMs, ino, ctimeMs, uid, gid (NaN: not recorded), size, start, end. */
const width = 9

interface Block {
  readonly numbers: Float64Array
  readonly paths: Array<string>
  /** Rows that are a second (or later) hard link: their first link's path. */
  linkTo: Map<number, string> | undefined
  /** Rows with extended attributes: them. */
  xattrs: Map<number, NonNullable<FileEntry["xattrs"]>> | undefined
}

/** A regular file's entry with bytes, as the backup walk makes it (no extents yet). */
export interface PendingFile {
  readonly path: string
  readonly mode: number
  readonly mtimeMs: number
  readonly ino: number
  readonly ctimeMs: number
  readonly uid?: number | undefined
  readonly gid?: number | undefined
  readonly linkTo?: string | undefined
  readonly xattrs?: FileEntry["xattrs"] | undefined
  readonly size: number
}

export class PendingFiles {
  private readonly blocks: Array<Block> = []
  /** The first row in `blocks[0]`, and the rows written in the last block. */
  private head = 0
  private tail = rowsPerBlock
  private count = 0

  get length(): number {
    return this.count
  }

  /** Adds a file whose bytes are `start`..`end` of the stream. */
  push(f: PendingFile, start: number, end: number): void {
    if (this.tail === rowsPerBlock) {
      this.blocks.push({ numbers: new Float64Array(rowsPerBlock * width), paths: [], linkTo: undefined, xattrs: undefined })
      this.tail = 0
    }
    const b = this.blocks[this.blocks.length - 1]!
    const o = this.tail * width
    const n = b.numbers
    n[o] = f.mode
    n[o + 1] = f.mtimeMs
    n[o + 2] = f.ino
    n[o + 3] = f.ctimeMs
    n[o + 4] = f.uid ?? Number.NaN
    n[o + 5] = f.gid ?? Number.NaN
    n[o + 6] = f.size
    n[o + 7] = start
    n[o + 8] = end
    b.paths.push(f.path)
    if (f.linkTo !== undefined) (b.linkTo ??= new Map()).set(this.tail, f.linkTo)
    if (f.xattrs !== undefined) (b.xattrs ??= new Map()).set(this.tail, f.xattrs)
    this.tail++
    this.count++
  }

  /** Where the first file's bytes start, or undefined when none waits. */
  firstStart(): number | undefined {
    return this.count === 0 ? undefined : this.blocks[0]!.numbers[this.head * width + 7]
  }

  /**
   * Takes from the front every file whose bytes end at or before `covered` (at most `max` of
   * them), giving each to `done` as its FileEntry with the extents `extentsOf` finds for its range.
   * Returns how many it took.
   */
  takeReady(
    covered: number,
    extentsOf: (start: number, end: number) => Array<Extent>,
    done: (entry: FileEntry) => void,
    max = Infinity
  ): number {
    let taken = 0
    while (this.count > 0 && taken < max) {
      const b = this.blocks[0]!
      const o = this.head * width
      const n = b.numbers
      const end = n[o + 8]!
      if (end > covered) return taken
      const linkTo = b.linkTo?.get(this.head)
      const xattrs = b.xattrs?.get(this.head)
      const uid = n[o + 4]!
      const gid = n[o + 5]!
      const path = b.paths[this.head]!
      const extents = extentsOf(n[o + 7]!, end)
      // The walk's key order (the event's JSON keeps it); the usual case without spreads.
      done(linkTo === undefined && xattrs === undefined && !Number.isNaN(uid) && !Number.isNaN(gid)
        ? { path, mode: n[o]!, mtimeMs: n[o + 1]!, ino: n[o + 2]!, ctimeMs: n[o + 3]!, uid, gid, kind: "file", size: n[o + 6]!, extents }
        : {
          path,
          mode: n[o]!,
          mtimeMs: n[o + 1]!,
          ino: n[o + 2]!,
          ctimeMs: n[o + 3]!,
          ...(Number.isNaN(uid) ? {} : { uid }),
          ...(Number.isNaN(gid) ? {} : { gid }),
          ...(linkTo !== undefined ? { linkTo } : {}),
          ...(xattrs !== undefined ? { xattrs } : {}),
          kind: "file",
          size: n[o + 6]!,
          extents
        })
      this.head++
      this.count--
      // A block read to its end, or the last one emptied: dropped, so the next push starts afresh.
      if (this.head === rowsPerBlock || (this.count === 0 && this.blocks.length === 1)) {
        this.blocks.shift()
        this.head = 0
        if (this.blocks.length === 0) this.tail = rowsPerBlock
      }
      taken++
    }
    return taken
  }
}
