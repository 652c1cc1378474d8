import * as crypto from "node:crypto"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect } from "effect"
import { makeDirectories } from "../MakeDirectories.ts"
import { KeystoreError } from "../../domain/Errors.ts"

/**
 * The key files' I/O: reading a file that may be missing, and the durable atomic write that
 * keyfiles and ML-KEM key files get (Keys.ts, KemKeyStore.ts). Failures are KeystoreErrors
 * naming the file.
 */
const errno = (e: unknown): string | undefined =>
  typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : undefined
/** An error's message; for fetch's bare "fetch failed", with the cause that says why (ECONNREFUSED, a bad certificate). */
export const reasonOf = (e: unknown): string => {
  if (!(e instanceof Error)) return String(e)
  const cause = e.cause instanceof Error ? e.cause.message : undefined
  return e.message === "fetch failed" && cause !== undefined ? `${e.message}: ${cause}` : e.message
}

/** A secret store's refusal of `init`'s secret name: it is taken, and Enigma never overwrites a secret. */
export const secretNameInUse = (where: string) =>
  new KeystoreError({ file: where, detail: "a secret of that name already exists; refusing to overwrite it (choose another kem_secret_name)" })

/** The file's bytes, or undefined when it does not exist. */
export const readOptional = (file: string) =>
  Effect.tryPromise({
    try: () => fs.readFile(file).then((b): Uint8Array | undefined => new Uint8Array(b)),
    catch: (e) => e
  }).pipe(
    Effect.catch((e) =>
      errno(e) === "ENOENT"
        ? Effect.succeed(undefined)
        : Effect.fail(new KeystoreError({ file, detail: `cannot read: ${reasonOf(e)}` }))
    )
  )

export const exists = (file: string) =>
  Effect.tryPromise({ try: () => fs.lstat(file), catch: (e) => e }).pipe(
    Effect.as(true),
    Effect.catch((e) =>
      errno(e) === "ENOENT"
        ? Effect.succeed(false)
        : Effect.fail(new KeystoreError({ file, detail: `cannot stat: ${reasonOf(e)}` }))
    )
  )

/**
 * Durable atomic write: temp file in the same directory (0600), fsync, then publish it under `file`
 * and fsync the directory. `exclusive` publishes with link(2), which fails if `file` already exists,
 * so two racing creates cannot clobber each other; otherwise rename(2) replaces the old file, and a
 * crash leaves either the old or the new keyfile, never a partial one.
 */
const writeAtomic = async (file: string, bytes: Uint8Array, exclusive: boolean): Promise<void> => {
  const dir = path.dirname(file)
  makeDirectories(dir, 0o700)
  const tmp = path.join(dir, `.${path.basename(file)}.${crypto.randomBytes(6).toString("hex")}.tmp`)
  try {
    const fh = await fs.open(tmp, "wx", 0o600)
    try {
      await fh.writeFile(bytes)
      await fh.sync()
    } finally {
      await fh.close()
    }
    if (!exclusive) {
      await fs.rename(tmp, file)
    } else {
      await fs.link(tmp, file).catch(async (e: unknown) => {
        const code = errno(e)
        // Filesystems without hard links: fall back to check-then-rename (small race, same result).
        if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "ENOSYS") throw e
        if (await fs.lstat(file).then(() => true, () => false)) throw Object.assign(new Error("exists"), { code: "EEXIST" })
        await fs.rename(tmp, file)
      })
    }
  } finally {
    await fs.rm(tmp, { force: true })
  }
  const d = await fs.open(dir, "r").catch(() => undefined)
  if (d !== undefined) await d.sync().catch(() => undefined).finally(() => d.close())
}

/** Writes keyfile bytes to `file` atomically (temp file, fsync, rename); KeystoreError names the file. */
export const writeKeyfile = (file: string, bytes: Uint8Array) => write(file, bytes, false, "keystore")

export const write = (file: string, bytes: Uint8Array, exclusive: boolean, what: string) =>
  Effect.tryPromise({
    try: () => writeAtomic(file, bytes, exclusive),
    catch: (e) =>
      new KeystoreError({
        file,
        detail: errno(e) === "EEXIST" ? `${what} already exists; refusing to overwrite it` : `cannot write: ${reasonOf(e)}`
      })
  })
