/**
 * Direct I/O (O_DIRECT) for the Local provider's object files: written and read without the
 * kernel's page cache.
 *
 * Why: chunk files are written once and read back rarely, long after (a restore), so caching
 * them buys nothing, and filling the cache costs CPU. On the 2-core VMs we measure on, a buffered
 * write of 1 GiB with fsync took 3.3 s of system CPU (the copy into freshly allocated page-cache
 * pages), O_DIRECT 0.15 s; a cold buffered read of 1 GiB 1.6 s of system CPU, O_DIRECT 0.03 s.
 * Backups, `put` and gateway PUTs are CPU-bound there, so that CPU is throughput.
 *
 * How: O_DIRECT needs the memory address, the length and the file offset of every transfer
 * aligned to the device's logical block size. Node cannot align a Buffer, but a
 * WebAssembly.Memory's buffer starts on a page boundary, so transfers go through a few pooled
 * 1 MiB staging buffers of that kind (one memcpy per byte, on the main thread: ~0.1 s per GiB).
 * A file whose length is not a multiple of the block size is written padded, then truncated.
 *
 * A backup's chunk writes take the same approach on worker threads instead (LocalIoThreads.ts).
 *
 * Where the filesystem refuses O_DIRECT at open (some FUSE and network filesystems answer
 * EINVAL, tmpfs did before Linux 6.6), `DirectWriter.create` and `readFileDirect` return
 * `undefined` having left nothing behind, and the caller uses its buffered path (`calls` lets
 * tests play such a filesystem). A write refused later (an alignment the device does not take)
 * makes the writer reopen the file without O_DIRECT and go on.
 */
import * as fs from "node:fs"
import { dataRuns } from "../../domain/SparseRuns.ts"
import type { FsPath } from "../../domain/StoredName.ts"

/** Covers every common logical block size (512 and 4096). */
const align = 4096
const stagingBytes = 1024 * 1024
/** Staging buffers kept for reuse: the Local provider's puts and gets and restore's large files in flight. */
const maxPooled = 8
const wasmPage = 65536

// The WebAssembly global exists in Node; TypeScript's ES lib declares only its namespace types.
declare const WebAssembly: { readonly Memory: new (descriptor: { initial: number; maximum: number }) => { readonly buffer: ArrayBuffer } }

const pool: Array<Uint8Array> = []
const takeStaging = (): Uint8Array => {
  const reused = pool.pop()
  if (reused !== undefined) return reused
  const pages = stagingBytes / wasmPage
  return new Uint8Array(new WebAssembly.Memory({ initial: pages, maximum: pages }).buffer)
}
const giveBack = (s: Uint8Array) => {
  if (pool.length < maxPooled) pool.push(s)
}

const roundUp = (n: number) => Math.ceil(n / align) * align
/** The filesystem (or the device's alignment) does not take O_DIRECT here. */
const directIoRefused = (e: unknown) => (e as { code?: string } | undefined)?.code === "EINVAL"
const noSpace = () => Object.assign(new Error("no space left on device"), { code: "ENOSPC" })

const callback = <A>(f: (done: (e: NodeJS.ErrnoException | null, a: A) => void) => void) =>
  new Promise<A>((resolve, reject) => f((e, a) => (e ? reject(e) : resolve(a))))
const openFd = (file: FsPath, flags: number, mode?: number) => callback<number>((done) => fs.open(file, flags, mode, done))
const writeAt = (fd: number, bytes: Uint8Array, offset: number, length: number, position: number) =>
  callback<number>((done) => fs.write(fd, bytes, offset, length, position, done))
/** The calls that can refuse O_DIRECT; tests replace them to play a filesystem that does. */
export interface DirectIoCalls {
  readonly open: typeof openFd
  readonly write: typeof writeAt
}
const realCalls: DirectIoCalls = { open: openFd, write: writeAt }
const readAt = (fd: number, bytes: Uint8Array, offset: number, length: number, position: number) =>
  callback<number>((done) => fs.read(fd, bytes, offset, length, position, done))
export const closeFd = (fd: number) => callback<void>((done) => fs.close(fd, (e) => done(e, undefined)))
export const fsyncFd = (fd: number) => callback<void>((done) => fs.fsync(fd, (e) => done(e, undefined)))

/** Opens with O_DIRECT, or `undefined` when the filesystem refuses it. */
const openDirect = async (open: DirectIoCalls["open"], file: FsPath, flags: number, mode?: number) => {
  try {
    return await open(file, flags | fs.constants.O_DIRECT, mode)
  } catch (e) {
    if (directIoRefused(e)) return undefined
    throw e
  }
}

/**
 * A new file written front to back with O_DIRECT: bytes are staged, and written a staging
 * buffer at a time; `finish` writes the rest padded to the block size and trims the padding.
 * The caller owns `fd` (after `finish`: fsync if it wants, close, rename) and calls `release`
 * when it gives up on the file.
 */
export class DirectWriter {
  private staging: Uint8Array | undefined = takeStaging()
  private fill = 0
  private written = 0
  /** Set once a write was refused and the file reopened without O_DIRECT. */
  private buffered = false

  private readonly file: FsPath
  private fdNow: number
  private readonly calls: DirectIoCalls
  /** Blocks of zeros are left as holes (restore --sparse; see SparseRuns.ts). */
  private readonly sparse: boolean

  private constructor(file: FsPath, fd: number, calls: DirectIoCalls, sparse: boolean) {
    this.file = file
    this.fdNow = fd
    this.calls = calls
    this.sparse = sparse
  }

  get fd() {
    return this.fdNow
  }

  /** Creates `file` (which must not exist); `undefined` where O_DIRECT is refused, with nothing created. */
  static async create(file: FsPath, mode: number, calls: DirectIoCalls = realCalls, sparse = false): Promise<DirectWriter | undefined> {
    const fd = await openDirect(calls.open, file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode)
    return fd === undefined ? undefined : new DirectWriter(file, fd, calls, sparse)
  }

  async write(bytes: Uint8Array) {
    let at = 0
    while (at < bytes.length) {
      const staging = this.staging!
      const n = Math.min(bytes.length - at, staging.length - this.fill)
      staging.set(bytes.subarray(at, at + n), this.fill)
      this.fill += n
      at += n
      if (this.fill === staging.length) await this.flush(false)
    }
  }

  /** Everything written: the file has exactly the bytes given, and its fd is still open. */
  async finish() {
    if (this.fill > 0) await this.flush(true)
    // Sparse: a hole at the end does not make the file longer, so it is always cut to length.
    if (this.sparse || (!this.buffered && this.written % align !== 0)) await callback<void>((done) => fs.ftruncate(this.fdNow, this.written, (e) => done(e, undefined)))
    this.release()
  }

  /** Gives the staging buffer back (done by `finish`; call it when abandoning the file). */
  release() {
    if (this.staging !== undefined) giveBack(this.staging)
    this.staging = undefined
  }

  private async flush(last: boolean): Promise<void> {
    const staging = this.staging!
    const length = this.buffered ? this.fill : last ? roundUp(this.fill) : this.fill
    if (length > this.fill) staging.fill(0, this.fill, length)
    // Staging buffers start block-aligned in the file, so the runs of a sparse write are aligned too.
    const runs = this.sparse ? dataRuns(staging.subarray(0, length), this.written) : [[0, length] as const]
    for (const [from, to] of runs) {
      let done = from
      while (done < to) {
        let n: number
        try {
          n = await this.calls.write(this.fdNow, staging, done, to - done, this.written + done)
        } catch (e) {
          if (this.buffered || !directIoRefused(e)) throw e
          await this.reopenBuffered()
          return this.flush(last)
        }
        // A short direct write leaves an unaligned offset that the next one could not use.
        if (n <= 0 || (!this.buffered && n % align !== 0)) throw noSpace()
        done += n
      }
    }
    this.written += this.fill
    this.fill = 0
  }

  private async reopenBuffered() {
    const fd = await this.calls.open(this.file, fs.constants.O_WRONLY)
    await closeFd(this.fdNow).catch(() => undefined)
    this.fdNow = fd
    this.buffered = true
  }
}

/** The whole of `file`, read with O_DIRECT; `undefined` when O_DIRECT is refused here. */
export const readFileDirect = async (file: string, calls: DirectIoCalls = realCalls): Promise<Buffer | undefined> => {
  const fd = await openDirect(calls.open, file, fs.constants.O_RDONLY)
  if (fd === undefined) return undefined
  const staging = takeStaging()
  try {
    const size = (await callback<fs.Stats>((done) => fs.fstat(fd, done))).size
    const out = Buffer.allocUnsafe(size)
    let at = 0
    while (at < size) {
      const n = await readAt(fd, staging, 0, Math.min(staging.length, roundUp(size - at)), at)
      if (n === 0) break // shrunk under us
      out.set(staging.subarray(0, Math.min(n, size - at)), at)
      at += Math.min(n, size - at)
      if (n % align !== 0) break // end of file: the next offset would not be aligned
    }
    return at === size ? out : out.subarray(0, at)
  } catch (e) {
    if (directIoRefused(e)) return undefined
    throw e
  } finally {
    giveBack(staging)
    await closeFd(fd).catch(() => undefined)
  }
}
