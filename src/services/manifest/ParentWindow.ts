import { compareStoredPaths } from "../../domain/BackupDiff.ts"
import { type ParentFile, ParentIndex } from "./ParentIndex.ts"

/** A regular file of a parent backup, as the manifest's `files` table holds it. */
export interface ParentRow {
  readonly path: string
  readonly size: number | bigint
  readonly mtime_ms: number
  readonly ino: number | bigint
  readonly ctime_ms: number
  /** JSON, as the manifest writes it. */
  readonly extents: string
  /** JSON, as the manifest writes it; null: none. */
  readonly xattrs: string | null
}

/** The files of a parent backup, looked up by path as a re-backup's walk meets them. */
export interface ParentFiles {
  readonly get: (path: string) => ParentFile | undefined
}

/** No parent backup: every file is read. */
export const noParentFiles: ParentFiles = { get: () => undefined }

const fromRow = (r: ParentRow): ParentFile => ({
  size: Number(r.size),
  mtimeMs: Number(r.mtime_ms),
  ino: Number(r.ino),
  ctimeMs: Number(r.ctime_ms),
  extents: () => JSON.parse(r.extents),
  xattrs: () => (r.xattrs === null ? undefined : JSON.parse(r.xattrs))
})

/**
 * A parent backup's files read a page at a time, in the manifest's path order, as the walk moves
 * forward: a re-backup holds one page (4,096 files by default), not the parent.
 *
 * Why: holding every file of the parent for the whole walk made a re-backup's memory grow with the
 * tree (~130 bytes a file, and more once V8 let its heap grow: a 300,000-file re-backup peaked at
 * ~400 MiB). The walk visits paths nearly in the manifest's order (depth first, names sorted), so
 * the page it needs is almost always the current one or the next.
 *
 * Where the orders differ, nothing is missed, only found another way. The manifest orders whole
 * paths by code point; the walk sorts names, so `a/x` comes before `a-b` in the walk (the
 * directory `a` is entered before its sibling) but after it in the manifest ('-' sorts before '/').
 * Such a path lies behind the page by the time the walk reaches it, and is looked up alone (one
 * primary-key query). A path ahead of the page moves the page forward to it.
 */
export class ParentWindow implements ParentFiles {
  private page = new ParentIndex()
  /** The page holds every parent file with a path in (lo, hi]; lo undefined: from the first. */
  private lo: string | undefined = undefined
  /** Undefined once the last page is loaded: the page then runs to the end. */
  private hi: string | undefined = undefined
  private loaded = false
  private atEnd = false
  private readonly pageAfter: (after: string, limit: number) => Iterable<ParentRow>
  private readonly one: (path: string) => ParentRow | undefined
  private readonly pageSize: number

  /**
   * `pageAfter(after, limit)`: up to `limit` files with a path above `after` ("" for the first
   * page), in path order; `one(path)`: the file at `path`, if the parent has one.
   */
  constructor(
    pageAfter: (after: string, limit: number) => Iterable<ParentRow>,
    one: (path: string) => ParentRow | undefined,
    pageSize = 4096
  ) {
    this.pageAfter = pageAfter
    this.one = one
    this.pageSize = pageSize
  }

  readonly get = (path: string): ParentFile | undefined => {
    while (!this.atEnd && (!this.loaded || compareStoredPaths(path, this.hi!) > 0)) this.next()
    if (this.lo === undefined || compareStoredPaths(path, this.lo) > 0) return this.page.get(path)
    const r = this.one(path)
    return r === undefined ? undefined : fromRow(r)
  }

  private next(): void {
    const after = this.loaded ? this.hi! : undefined
    const page = new ParentIndex()
    let last: string | undefined
    for (const r of this.pageAfter(after ?? "", this.pageSize)) {
      page.add(r.path, Number(r.size), Number(r.mtime_ms), Number(r.ino), Number(r.ctime_ms), r.extents, r.xattrs)
      last = r.path
    }
    this.page = page
    this.lo = after
    this.loaded = true
    if (page.size < this.pageSize) {
      this.atEnd = true
      this.hi = undefined
    } else {
      this.hi = last
    }
  }
}
