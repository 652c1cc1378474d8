import * as fs from "node:fs"

/**
 * Reads small files into large shared buffers ("arenas"), synchronously.
 *
 * Why: a tree of small files is dominated by per-file overhead. An async read costs several
 * thread-pool round trips per file (open, read, close) and a fresh buffer each; 18,000 files
 * then spend most of their time waiting and in GC. Read synchronously into a 4 MiB arena, a
 * chunker then cuts chunks as views of the arena without copying.
 *
 * Arenas are never reused (chunks may still be views into them), only replaced when full; the
 * replaced ones wait in `retired` until the caller has pushed the views it was given.
 */
export class ArenaReader {
  private arena: Buffer
  private pos = 0
  private readonly arenaSize: number
  private readonly minFree: number
  /** Arenas replaced since the last `takeRetired`. */
  private retired: Array<Buffer> = []

  constructor(arenaSize = 4 * 1024 * 1024, minFree = 64 * 1024) {
    this.arenaSize = arenaSize
    this.minFree = minFree
    this.arena = Buffer.allocUnsafeSlow(arenaSize)
  }

  /**
   * Reads the whole file; returns its bytes as one or more views (more than one only when it
   * did not fit in the current arena). Throws the fs error for an unreadable file.
   */
  readFile(path: string, expectedSize: number): Array<Uint8Array> {
    const fd = fs.openSync(path, "r")
    try {
      const views: Array<Uint8Array> = []
      for (;;) {
        if (this.arena.length - this.pos < Math.min(this.minFree, expectedSize + 1)) this.renew()
        const want = this.arena.length - this.pos
        const n = fs.readSync(fd, this.arena, this.pos, want, null)
        if (n > 0) views.push(this.arena.subarray(this.pos, this.pos + n))
        this.pos += n
        // A regular file returns fewer bytes than asked only at its end.
        if (n < want) return views
      }
    } finally {
      fs.closeSync(fd)
    }
  }

  /** Arenas no later `readFile` will return views of. */
  takeRetired(): Array<Buffer> {
    const r = this.retired
    this.retired = []
    return r
  }

  private renew() {
    if (this.pos > 0) this.retired.push(this.arena)
    this.arena = Buffer.allocUnsafeSlow(this.arenaSize)
    this.pos = 0
  }
}
