import { createRequire } from "node:module"
import type { FsPath } from "../domain/StoredName.ts"

/**
 * Extended attributes of files, directories and symlinks, as restic, borg and `tar --xattrs`
 * keep them: user.* (desktop tags, app data), security.capability (what lets `ping` run without
 * root), security.selinux, and POSIX ACLs (system.posix_acl_access / _default). A restore without
 * them can leave a system that does not work, or files readable by people who could not read them.
 *
 * Node has no xattr calls; `@napi-rs/xattr` (prebuilt for each platform, like the BLAKE3 module)
 * makes the l*xattr system calls, so a symlink's own attributes are read, never its target's.
 * Where its binary is missing, `available()` is false: backups record no attributes (the backup
 * says so once) and restores set none.
 */

interface XattrModule {
  readonly listAttributesSync: (path: string) => Array<string>
  readonly getAttributeSync: (path: string, name: string) => Buffer | null
  readonly setAttributeSync: (path: string, name: string, value: Uint8Array) => void
}

let loaded: XattrModule | null | undefined
const xattrModule = (): XattrModule | null => {
  if (loaded === undefined) {
    try {
      loaded = createRequire(import.meta.url)("@napi-rs/xattr") as XattrModule
    } catch {
      loaded = null
    }
  }
  return loaded
}

/** Whether this platform can read and write extended attributes (the native module loads). */
export const xattrsAvailable = (): boolean => xattrModule() !== null

/** An entry's extended attributes: [name, value as base64], by name. */
export type Xattrs = ReadonlyArray<readonly [string, string]>

/**
 * The attributes of `p` (not following a symlink), or undefined when it has none, the filesystem
 * keeps none, or the name is not UTF-8 (the module takes only strings). Reading them never fails a
 * backup: an attribute that vanished in between is simply not there.
 */
export const readXattrs = (p: FsPath): Xattrs | undefined => {
  const m = xattrModule()
  if (m === null || typeof p !== "string") return undefined
  let names: Array<string>
  try {
    names = m.listAttributesSync(p)
  } catch {
    return undefined
  }
  if (names.length === 0) return undefined
  const out: Array<readonly [string, string]> = []
  for (const name of names.sort()) {
    try {
      const v = m.getAttributeSync(p, name)
      if (v !== null) out.push([name, v.toString("base64")])
    } catch {
      // Removed since it was listed, or not readable by this user: left out.
    }
  }
  return out.length > 0 ? out : undefined
}

/** The errno name in a message of the module ("Operation not permitted (os error 1)"). */
const codeOf = (e: unknown): string => {
  const n = /\(os error (\d+)\)/.exec(e instanceof Error ? e.message : String(e))?.[1]
  const names: Record<string, string> = { "1": "EPERM", "13": "EACCES", "28": "ENOSPC", "61": "ENODATA", "95": "ENOTSUP", "122": "EDQUOT" }
  return n === undefined ? "EIO" : (names[n] ?? `errno ${n}`)
}

/**
 * Sets each attribute on `p` (not following a symlink). Returns how many the filesystem refused
 * and the first refusal's code: security.* and trusted.* need root, a filesystem may keep none
 * (ENOTSUP), a symlink takes no user.* attribute (EPERM). The data is restored either way.
 */
export const writeXattrs = (p: FsPath, xattrs: Xattrs): { readonly refused: number; readonly code: string | undefined } => {
  const m = xattrModule()
  if (m === null || typeof p !== "string") return { refused: xattrs.length, code: m === null ? "no xattr support on this platform" : "name is not UTF-8" }
  let refused = 0
  let code: string | undefined
  for (const [name, value] of xattrs) {
    try {
      m.setAttributeSync(p, name, Buffer.from(value, "base64"))
    } catch (e) {
      refused++
      code ??= codeOf(e)
    }
  }
  return { refused, code }
}
