import * as fs from "node:fs/promises"
import * as path from "node:path"
import { randomBytes } from "node:crypto"
import { createReadStream } from "node:fs"
import { Effect, Exit, Stream } from "effect"
import { makeDirectories } from "../MakeDirectories.ts"
import { checkRange } from "./Blocks.ts"
import { closeFd, DirectWriter, fsyncFd, readFileDirect } from "./DirectIo.ts"
import { getOffThread, OffThreadReads, OffThreadWrites, putOffThread, rootMissing } from "./LocalIoThreads.ts"
import { freedTooEarly, isFreed } from "../ReleaseBuffers.ts"
import { type ByteRange, StorageError, type StorageFailure, type StorageProvider } from "./StorageProvider.ts"

/** Maps a Node fs error code onto the port's failure kinds. */
const failureOf = (cause: unknown): StorageFailure => {
  const code = (cause as { code?: string } | undefined)?.code
  switch (code) {
    case "ENOENT":
      return "NotFound"
    case "EACCES":
    case "EPERM":
    case "EROFS":
      return "AccessDenied"
    case "EAGAIN":
    case "EBUSY":
    case "EMFILE":
    case "ENFILE":
    case "EINTR":
      return "Transient"
    default:
      return "Fatal"
  }
}

/** writev may write less than asked: continue from where it stopped. */
const writeAll = async (handle: fs.FileHandle, parts: ReadonlyArray<Uint8Array>) => {
  let rest = parts.filter((p) => p.length > 0)
  while (rest.length > 0) {
    let { bytesWritten } = await handle.writev(rest as Array<Uint8Array>)
    if (bytesWritten <= 0) throw Object.assign(new Error("no space left on device"), { code: "ENOSPC" })
    const next: Array<Uint8Array> = []
    for (const p of rest) {
      if (bytesWritten >= p.length) bytesWritten -= p.length
      else {
        next.push(bytesWritten > 0 ? p.subarray(bytesWritten) : p)
        bytesWritten = 0
      }
    }
    rest = next
  }
}

/** Marks a file being written: `KEY.tmp-RANDOM`, renamed to KEY once complete and durable. */
const tempMarker = ".tmp-"
const tempNameOf = (target: string) => `${target}${tempMarker}${randomBytes(6).toString("hex")}`

/** Bodies from this size on are written with O_DIRECT (see DirectIo.ts); smaller ones gain nothing. */
const directFromBytes = 64 * 1024

/**
 * A provider on a local directory. Writes go to a temp file, are fsynced, renamed into place
 * and the directory fsynced, so `put` is atomic and durable. Keys map to relative paths; the
 * chunk keys already fan out by id prefix (`chunks/ab/abcd…`).
 */
export const makeLocalProvider = (name: string, root: string): StorageProvider => {
  const resolve = (key: string) => path.join(root, ...key.split("/"))
  const fail = (operation: string, key: string) => (cause: unknown) =>
    new StorageError({
      provider: name,
      operation,
      key,
      reason: failureOf(cause),
      detail: (cause as Error)?.message ?? String(cause)
    })

  // Until the filesystem under `root` refuses O_DIRECT once: then buffered I/O, as everywhere.
  let direct = true

  /*
   * The directory a write needs (`chunks/ab`), made on its first write, but never `root` itself:
   * only `create` makes that (init). Were the disk it lives on not mounted, making it would put
   * the repository's new chunks and log segments on the disk below, to vanish behind the mount
   * once it is back, while every command reported them stored.
   */
  const statRoot = () =>
    fs.stat(root).catch((e: unknown) => {
      throw (e as { code?: string }).code === "ENOENT" ? rootMissing(root) : e
    })
  const makeDirUnderRoot = async (dir: string) => {
    await statRoot()
    makeDirectories(dir)
  }
  /** Opens `tmp` with `open`, making its directory under root first if it is not there yet. */
  const openMaking = async <A>(dir: string, open: () => Promise<A>): Promise<A> => {
    try {
      return await open()
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT") throw e
      await makeDirUnderRoot(dir)
      return open()
    }
  }

  /** The temp file with `parts` in it, still open (the caller fsyncs, closes and renames it). */
  const writeTemp = async (tmp: string, parts: ReadonlyArray<Uint8Array>): Promise<{ sync(): Promise<void>; close(): Promise<void> }> => {
    if (direct && parts.reduce((n, p) => n + p.length, 0) >= directFromBytes) {
      const w = await DirectWriter.create(tmp, 0o600)
      if (w !== undefined) {
        try {
          for (const p of parts) await w.write(p)
          await w.finish()
          return { sync: () => fsyncFd(w.fd), close: () => closeFd(w.fd) }
        } catch (e) {
          w.release()
          await closeFd(w.fd).catch(() => undefined)
          await fs.rm(tmp, { force: true })
          throw e
        }
      }
      direct = false
    }
    const handle = await fs.open(tmp, "w", 0o600)
    try {
      await writeAll(handle, parts)
      return handle
    } catch (e) {
      await handle.close()
      await fs.rm(tmp, { force: true })
      throw e
    }
  }

  /** On this thread, through libuv: a step at a time, each after the main thread's turn. */
  const putHere = async (target: string, parts: ReadonlyArray<Uint8Array>) => {
    const dir = path.dirname(target)
    const tmp = tempNameOf(target)
    const handle = await openMaking(dir, () => writeTemp(tmp, parts))
    try {
      await handle.sync()
    } catch (e) {
      await handle.close()
      await fs.rm(tmp, { force: true })
      throw e
    }
    await handle.close()
    await fs.rename(tmp, target)
    const dirHandle = await fs.open(dir, "r")
    await dirHandle.sync().finally(() => dirHandle.close())
  }

  /** On a worker (see LocalIoThreads), for runs whose memory budget allows it. */
  const putOnWorker = async (target: string, parts: ReadonlyArray<Uint8Array>, stagings: number) => {
    const askDirect = direct && parts.reduce((n, p) => n + p.length, 0) >= directFromBytes
    const r = await putOffThread({ tmp: tempNameOf(target), target, dir: path.dirname(target), root, parts, direct: askDirect, stagings })
    if (askDirect && !r.direct) direct = false
  }

  const put = (key: string, body: Uint8Array | ReadonlyArray<Uint8Array>) =>
    Effect.flatMap(OffThreadWrites, (stagings) =>
      Effect.tryPromise({
        try: async () => {
          const parts = body instanceof Uint8Array ? [body] : body
          // Never rename an emptied copy over a good object (see ReleaseBuffers).
          if (parts.some(isFreed)) throw freedTooEarly(`the body of ${key}`)
          return stagings > 0 ? putOnWorker(resolve(key), parts, stagings) : putHere(resolve(key), parts)
        },
        catch: fail("put", key)
      })).pipe(Effect.withSpan("LocalProvider.put", { attributes: { provider: name } }))

  const readWhole = async (file: string, offThread: boolean): Promise<Uint8Array> => {
    if (offThread) {
      const r = await getOffThread(file, direct)
      if (direct && !r.direct) direct = false
      return r.bytes
    }
    if (direct) {
      const bytes = await readFileDirect(file)
      if (bytes !== undefined) return bytes
      direct = false
    }
    return fs.readFile(file)
  }

  const get = (key: string) =>
    Effect.flatMap(OffThreadReads, (offThread) =>
      Effect.tryPromise({ try: () => readWhole(resolve(key), offThread), catch: fail("get", key) })).pipe(
      Effect.withSpan("LocalProvider.get", { attributes: { provider: name } })
    )

  const invalid = (operation: string, key: string, detail: string) =>
    new StorageError({ provider: name, operation, key, reason: "Fatal", detail })

  /**
   * Like `put`, but the body is written to the temp file block by block as the stream gives it.
   * A failing or interrupted body removes the temp file: the old object (or none) stays.
   */
  const putStream = <E>(key: string, body: Stream.Stream<Uint8Array, E>) => {
    const target = resolve(key)
    const dir = path.dirname(target)
    const tmp = tempNameOf(target)
    let closed = false
    return Effect.acquireUseRelease(
      Effect.tryPromise({
        try: () => openMaking(dir, () => fs.open(tmp, "w", 0o600)),
        catch: fail("put", key)
      }),
      (handle) =>
        Effect.gen(function*() {
          yield* Stream.runForEach(body, (piece) =>
            Effect.tryPromise({ try: () => writeAll(handle, [piece]), catch: fail("put", key) }))
          yield* Effect.tryPromise({
            try: async () => {
              await handle.sync()
              closed = true
              await handle.close()
              await fs.rename(tmp, target)
              const dirHandle = await fs.open(dir, "r")
              await dirHandle.sync().finally(() => dirHandle.close())
            },
            catch: fail("put", key)
          })
        }),
      (handle, exit) =>
        Effect.promise(async () => {
          if (!closed) await handle.close().catch(() => undefined)
          if (Exit.isFailure(exit)) await fs.rm(tmp, { force: true }).catch(() => undefined)
        })
    ).pipe(Effect.withSpan("LocalProvider.putStream", { attributes: { provider: name } }))
  }

  const getRange = (key: string, offset: number, length: number) => {
    const bad = checkRange(offset, length)
    if (bad !== undefined) return Effect.fail(invalid("get", key, bad))
    return Effect.tryPromise({
      try: async () => {
        const handle = await fs.open(resolve(key), "r")
        try {
          const size = (await handle.stat()).size
          const n = Math.max(0, Math.min(length, size - offset))
          const out = Buffer.allocUnsafe(n)
          let at = 0
          while (at < n) {
            const { bytesRead } = await handle.read(out, at, n - at, offset + at)
            if (bytesRead === 0) break // shrunk under us
            at += bytesRead
          }
          return out.subarray(0, at) as Uint8Array
        } finally {
          await handle.close()
        }
      },
      catch: fail("get", key)
    }).pipe(Effect.withSpan("LocalProvider.getRange", { attributes: { provider: name } }))
  }

  /** Read in 1 MiB blocks; the file is opened only when the stream runs. */
  const getStream = (key: string, range?: ByteRange): Stream.Stream<Uint8Array, StorageError> => {
    const offset = range?.offset ?? 0
    const length = range?.length
    const bad = checkRange(offset, length)
    if (bad !== undefined) return Stream.fail(invalid("get", key, bad))
    // An empty range reads nothing, but a missing key still fails.
    if (length === 0) return Stream.unwrap(Effect.map(getRange(key, offset, 0), () => Stream.empty))
    return Stream.suspend(() =>
      Stream.fromAsyncIterable(
        createReadStream(resolve(key), {
          start: offset,
          ...(length !== undefined ? { end: offset + length - 1 } : {}),
          highWaterMark: 1024 * 1024
        }) as AsyncIterable<Buffer>,
        fail("get", key)
      )
    )
  }

  const head = (key: string) =>
    Effect.tryPromise({
      try: () => fs.stat(resolve(key)).then((s) => s.size, (e) => (e?.code === "ENOENT" ? undefined : Promise.reject(e))),
      catch: fail("head", key)
    })

  const del = (key: string) =>
    Effect.tryPromise({ try: () => fs.rm(resolve(key), { force: true }), catch: fail("delete", key) }).pipe(
      Effect.withSpan("LocalProvider.delete", { attributes: { provider: name } })
    )

  /**
   * Every file whose key starts with `prefix`, with whether it is a temp file of a write in
   * progress (or of one a crash interrupted). Walks only the directories under the prefix's
   * directory part.
   */
  const walk = async function*(prefix: string): AsyncGenerator<{ readonly key: string; readonly temp: boolean }> {
    const slash = prefix.lastIndexOf("/")
    const baseKey = slash >= 0 ? prefix.slice(0, slash) : ""
    const stack = [baseKey]
    while (stack.length > 0) {
      const dirKey = stack.pop()!
      let entries: Array<import("node:fs").Dirent>
      try {
        entries = await fs.readdir(dirKey ? resolve(dirKey) : root, { withFileTypes: true })
      } catch (e) {
        if ((e as { code?: string }).code === "ENOENT") continue
        throw e
      }
      for (const entry of entries) {
        const key = dirKey ? `${dirKey}/${entry.name}` : entry.name
        if (entry.isDirectory()) {
          if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) stack.push(key)
        } else if (key.startsWith(prefix)) {
          yield { key, temp: entry.name.includes(tempMarker) }
        }
      }
    }
  }

  /** Skips temp files: they are not objects (yet, or ever). */
  const list = (prefix: string): Stream.Stream<string, StorageError> =>
    Stream.fromAsyncIterable(
      (async function*() {
        for await (const f of walk(prefix)) if (!f.temp) yield f.key
      })(),
      fail("list", prefix)
    )

  /** Temp files a killed writer left (put and putStream remove their own on failure). */
  const sweepIncomplete = (prefix: string, olderThanMs: number, dryRun: boolean) =>
    Effect.tryPromise({
      try: async () => {
        const before = Date.now() - olderThanMs
        const swept: Array<string> = []
        for await (const f of walk(prefix)) {
          if (!f.temp) continue
          const stat = await fs.stat(resolve(f.key)).catch(() => undefined) // gone meanwhile: renamed or removed
          if (stat === undefined || stat.mtimeMs >= before) continue
          if (!dryRun) await fs.rm(resolve(f.key), { force: true })
          swept.push(f.key)
        }
        return swept as ReadonlyArray<string>
      },
      catch: fail("sweep", prefix)
    }).pipe(Effect.withSpan("LocalProvider.sweepIncomplete", { attributes: { provider: name } }))

  /**
   * The directory is there, and readable; with `write`, writable too. `check` (does it answer:
   * status, verify) asks only to read, so a provider on a disk mounted read-only can be verified
   * and restored from; `create` (init) asks to write.
   */
  const checkRoot = async (write: boolean) => {
    const st = await statRoot()
    if (!st.isDirectory()) throw Object.assign(new Error(`${root} is not a directory`), { code: "ENOTDIR" })
    await fs.access(root, write ? fs.constants.W_OK : fs.constants.R_OK | fs.constants.X_OK)
  }
  const check = Effect.tryPromise({ try: () => checkRoot(false), catch: fail("check", root) })
  const create = Effect.tryPromise({
    try: async () => {
      makeDirectories(root)
      await checkRoot(true)
    },
    catch: fail("create", root)
  })

  return { name, kind: "Local", writesParts: true, put, get, putStream, getRange, getStream, head, delete: del, list, check, create, sweepIncomplete }
}
