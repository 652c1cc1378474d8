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
 * Where the filesystem refuses O_DIRECT (tmpfs, some FUSE and network filesystems answer
 * EINVAL, tmpfs did before Linux 6.6), each function returns `undefined` having left nothing
 * behind, and the caller uses its buffered path. (`open` is there for tests to play such a
 * filesystem.)
 */
import * as fs from "node:fs/promises"
import { constants } from "node:fs"

/** Covers every common logical block size (512 and 4096). */
const align = 4096
const stagingBytes = 1024 * 1024
/** Staging buffers kept for reuse: the Local provider's puts and gets in flight rarely exceed this. */
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
const codeOf = (e: unknown) => (e as { code?: string } | undefined)?.code
/** The filesystem (or the device's alignment) does not take O_DIRECT here. */
export const directIoRefused = (e: unknown) => codeOf(e) === "EINVAL"
const noSpace = () => Object.assign(new Error("no space left on device"), { code: "ENOSPC" })

type Open = (file: string, flags: number, mode?: number) => Promise<fs.FileHandle>

/** Opens with O_DIRECT, or `undefined` when the filesystem refuses it. */
const openDirect = async (open: Open, file: string, flags: number, mode?: number) => {
  try {
    return await open(file, flags | constants.O_DIRECT, mode)
  } catch (e) {
    if (directIoRefused(e)) return undefined
    throw e
  }
}

/**
 * Creates `file` (which must not exist) holding the concatenation of `parts`, written with
 * O_DIRECT, and returns its open handle for the caller to fsync, close and rename. `undefined`:
 * O_DIRECT is refused here and nothing is left behind. Any other failure removes the file and
 * throws.
 */
export const createFileDirect = async (
  file: string,
  parts: ReadonlyArray<Uint8Array>,
  mode: number,
  open: Open = fs.open
): Promise<fs.FileHandle | undefined> => {
  const handle = await openDirect(open, file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode)
  if (handle === undefined) return undefined
  const staging = takeStaging()
  let refused = false
  try {
    let fill = 0
    let written = 0
    const flush = async (last: boolean) => {
      const length = last ? roundUp(fill) : fill
      if (length > fill) staging.fill(0, fill, length)
      let done = 0
      while (done < length) {
        const { bytesWritten } = await handle.write(staging, done, length - done, written + done)
        // A short direct write leaves an unaligned offset that the next one could not use.
        if (bytesWritten <= 0 || bytesWritten % align !== 0) throw noSpace()
        done += bytesWritten
      }
      written += fill
      fill = 0
    }
    for (const part of parts) {
      let at = 0
      while (at < part.length) {
        const n = Math.min(part.length - at, staging.length - fill)
        staging.set(part.subarray(at, at + n), fill)
        fill += n
        at += n
        if (fill === staging.length) await flush(false)
      }
    }
    if (fill > 0) await flush(true)
    if (written % align !== 0) await handle.truncate(written)
    return handle
  } catch (e) {
    refused = directIoRefused(e)
    await handle.close().catch(() => undefined)
    await fs.rm(file, { force: true }).catch(() => undefined)
    if (refused) return undefined
    throw e
  } finally {
    giveBack(staging)
  }
}

/** The whole of `file`, read with O_DIRECT; `undefined` when O_DIRECT is refused here. */
export const readFileDirect = async (file: string, open: Open = fs.open): Promise<Buffer | undefined> => {
  const handle = await openDirect(open, file, constants.O_RDONLY)
  if (handle === undefined) return undefined
  const staging = takeStaging()
  try {
    const size = (await handle.stat()).size
    const out = Buffer.allocUnsafe(size)
    let at = 0
    while (at < size) {
      const { bytesRead } = await handle.read(staging, 0, Math.min(staging.length, roundUp(size - at)), at)
      if (bytesRead === 0) break // shrunk under us
      const n = Math.min(bytesRead, size - at)
      out.set(staging.subarray(0, n), at)
      at += n
      if (bytesRead % align !== 0) break // end of file: the next offset would not be aligned
    }
    return at === size ? out : out.subarray(0, at)
  } catch (e) {
    if (directIoRefused(e)) return undefined
    throw e
  } finally {
    giveBack(staging)
    await handle.close().catch(() => undefined)
  }
}
