import * as fs from "node:fs/promises"
import * as path from "node:path"
import { randomBytes } from "node:crypto"
import { Effect, Stream } from "effect"
import { StorageError, type StorageFailure, type StorageProvider } from "./StorageProvider.ts"

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

  const put = (key: string, body: Uint8Array | ReadonlyArray<Uint8Array>) =>
    Effect.tryPromise({
      try: async () => {
        const target = resolve(key)
        const dir = path.dirname(target)
        await fs.mkdir(dir, { recursive: true })
        const tmp = `${target}.tmp-${randomBytes(6).toString("hex")}`
        const handle = await fs.open(tmp, "w", 0o600)
        try {
          if (body instanceof Uint8Array) await handle.writeFile(body)
          else await writeAll(handle, body)
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
      },
      catch: fail("put", key)
    }).pipe(Effect.withSpan("LocalProvider.put", { attributes: { provider: name } }))

  const get = (key: string) =>
    Effect.tryPromise({ try: () => fs.readFile(resolve(key)), catch: fail("get", key) }).pipe(
      Effect.map((b): Uint8Array => b),
      Effect.withSpan("LocalProvider.get", { attributes: { provider: name } })
    )

  const head = (key: string) =>
    Effect.tryPromise({
      try: () => fs.stat(resolve(key)).then((s) => s.size, (e) => (e?.code === "ENOENT" ? undefined : Promise.reject(e))),
      catch: fail("head", key)
    })

  const del = (key: string) =>
    Effect.tryPromise({ try: () => fs.rm(resolve(key), { force: true }), catch: fail("delete", key) }).pipe(
      Effect.withSpan("LocalProvider.delete", { attributes: { provider: name } })
    )

  /** Walks only the directories under the prefix's directory part; skips in-flight temp files. */
  const list = (prefix: string): Stream.Stream<string, StorageError> =>
    Stream.fromAsyncIterable(
      (async function*() {
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
            } else if (key.startsWith(prefix) && !entry.name.includes(".tmp-")) {
              yield key
            }
          }
        }
      })(),
      fail("list", prefix)
    )

  const check = Effect.tryPromise({
    try: async () => {
      await fs.mkdir(root, { recursive: true })
      await fs.access(root, fs.constants.W_OK)
    },
    catch: fail("check", root)
  })

  return { name, kind: "Local", put, get, head, delete: del, list, check }
}
