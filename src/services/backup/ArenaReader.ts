import * as fs from "node:fs"
import type { FsPath } from "../../domain/StoredName.ts"

/**
 * Reads small files into large buffers ("arenas"), synchronously, back to back.
 *
 * Why: a tree of small files is dominated by per-file overhead. An async read costs several
 * thread-pool round trips per file (open, read, close) and a fresh buffer each; 18,000 files
 * then spend most of their time waiting and in GC. Read synchronously into a 4 MiB arena, the
 * files enter the chunk stream an arena at a time, and chunks are views of the arena.
 *
 * Arenas are never reused (chunks may still be views into them), only replaced when full or
 * sealed; the replaced ones wait in `retired`, each as the view of its filled part, until the
 * caller takes them.
 */
export class ArenaReader {
  private arena: Buffer | undefined
  private pos = 0
  private readonly arenaSize: number
  private readonly minFree: number
  /** Filled parts of the arenas replaced since the last `takeRetired`, in order. */
  private retired: Array<Uint8Array> = []

  constructor(arenaSize = 4 * 1024 * 1024, minFree = 64 * 1024) {
    this.arenaSize = arenaSize
    this.minFree = minFree
  }

  /**
   * Reads the whole file into the arenas and returns its length, and whether it changed while it
   * was read (its size, mtime or ctime, checked on the open file afterwards, differ from `seen`).
   * Throws the fs error for an unreadable file, leaving none of its bytes behind: a file read in
   * part is not in any arena.
   */
  readFile(path: FsPath, seen: { readonly size: number; readonly mtimeMs: number; readonly ctimeMs: number }): { readonly n: number; readonly changed: boolean } {
    const expectedSize = seen.size
    const fd = fs.openSync(path, "r")
    const before = { arena: this.arena, pos: this.pos, retired: this.retired.length }
    try {
      let total = 0
      for (;;) {
        if (this.arena === undefined || this.arena.length - this.pos < Math.min(this.minFree, expectedSize + 1)) this.renew()
        const arena = this.arena!
        const want = arena.length - this.pos
        const n = fs.readSync(fd, arena, this.pos, want, null)
        this.pos += n
        total += n
        // A regular file returns fewer bytes than asked only at its end.
        if (n < want) {
          const now = fs.fstatSync(fd)
          return { n: total, changed: now.size !== total || now.mtimeMs !== seen.mtimeMs || now.ctimeMs !== seen.ctimeMs }
        }
      }
    } catch (e) {
      this.arena = before.arena
      this.pos = before.pos
      this.retired.length = before.retired
      throw e
    } finally {
      fs.closeSync(fd)
    }
  }

  /** Retires the current arena: what was read so far can enter the stream before what comes next. */
  seal(): void {
    if (this.arena !== undefined && this.pos > 0) this.retired.push(this.arena.subarray(0, this.pos))
    this.arena = undefined
    this.pos = 0
  }

  /** The filled parts of the arenas no later `readFile` will add to, in order. */
  takeRetired(): Array<Uint8Array> {
    const r = this.retired
    this.retired = []
    return r
  }

  private renew() {
    this.seal()
    this.arena = Buffer.allocUnsafeSlow(this.arenaSize)
  }
}
