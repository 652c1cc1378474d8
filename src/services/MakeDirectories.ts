/**
 * `mkdir -p` that always ends: a directory and any of its parents that are missing.
 *
 * Why: Node's own `mkdir(dir, { recursive: true })` (sync and async, seen on Node 24.21) never
 * returns when creating `dir` answers ENOENT although its parent exists: it makes the parent
 * (EEXIST: fine), tries `dir` again, gets ENOENT again, and so on, at 100% of a core. Filesystems
 * answer that way where a directory cannot be made: /proc, /sys, an autofs mount (/net/host/…) or
 * a FUSE filesystem that refuses new directories. So `enigma restore latest /proc/x` (or a config
 * dir, a Local provider or a keyfile there) spun forever instead of failing.
 *
 * How: as Node's, but a parent is made (or found) once per directory, and `dir`'s second ENOENT is
 * its answer: an error that says the filesystem refuses, code ENOENT. Other errors keep Node's
 * codes: EEXIST where `dir` itself is a file, ENOTDIR where a parent is one, ELOOP, the system's
 * error otherwise, each with `code`, `path` and `syscall`, so callers map them as before. Where a
 * symlink stands in the way (to nothing, to a file, into a loop) the error names it and its target
 * and carries `symlink` (the target).
 * `mode` applies to the directories made, as with mkdir.
 *
 * Synchronous, also where callers are async: a mkdir is one quick call, made once per directory
 * (a restore's destination, a config dir, a provider's fan-out directories). It refers to nothing
 * outside itself: its source text also runs in the Local provider's I/O workers (LocalIoThreads).
 */
export function makeDirectories(dir: string, mode?: number): void {
  const fs = process.getBuiltinModule("node:fs")
  const path = process.getBuiltinModule("node:path")
  const isDirectory = (d: string) => {
    try {
      return fs.statSync(d).isDirectory()
    } catch {
      return false
    }
  }
  const errnos: Record<string, number> = { EEXIST: -17, ENOTDIR: -20, ELOOP: -40 }
  // A symlink where a directory should be (to nothing, to a file, or into a loop), named with its
  // target: Node's "file already exists" says nothing of it. `symlink` marks it for callers.
  const symlinkInWay = (d: string, code: string): Error | undefined => {
    let target: string
    try {
      if (!fs.lstatSync(d).isSymbolicLink()) return undefined
      target = fs.readlinkSync(d)
    } catch {
      return undefined
    }
    let why = "which is not a directory"
    try {
      fs.statSync(d)
    } catch (e) {
      why = (e as { code?: string }).code === "ELOOP" ? "which leads into a loop of symlinks" : "which does not exist"
    }
    return Object.assign(new Error(`${code}: '${d}' is a symlink to '${target}', ${why}; make it lead to a directory, remove it, or choose another place`), {
      code,
      errno: errnos[code],
      syscall: "mkdir",
      path: d,
      symlink: target
    })
  }
  const notDirectory = (d: string) =>
    symlinkInWay(d, "ENOTDIR") ??
      Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${d}'`), { code: "ENOTDIR", errno: -20, syscall: "mkdir", path: d })
  // ELOOP names the path being made; the loop is in a symlink above it (or it).
  const loopAbove = (d: string): Error | undefined => {
    for (let at = d; ; at = path.dirname(at)) {
      const e = symlinkInWay(at, "ELOOP")
      if (e !== undefined && e.message.includes("loop")) return e
      if (path.dirname(at) === at) return undefined
    }
  }
  const make = (d: string, last: boolean): void => {
    try {
      return void fs.mkdirSync(d, { mode: mode ?? 0o777 })
    } catch (e) {
      const code = (e as { code?: string }).code
      if (code === "EEXIST") {
        if (isDirectory(d)) return
        throw last ? (symlinkInWay(d, "EEXIST") ?? e) : notDirectory(d)
      }
      if (code === "ELOOP") throw loopAbove(d) ?? e
      const parent = path.dirname(d)
      if (code !== "ENOENT" || parent === d) throw e
      make(parent, false)
    }
    // The parent is there now: a second ENOENT is the filesystem's answer, not a missing parent.
    try {
      fs.mkdirSync(d, { mode: mode ?? 0o777 })
    } catch (e) {
      const code = (e as { code?: string }).code
      if (code === "EEXIST" && isDirectory(d)) return
      if (code === "EEXIST") throw last ? (symlinkInWay(d, "EEXIST") ?? e) : notDirectory(d)
      if (code !== "ENOENT") throw e
      throw Object.assign(new Error(`ENOENT: the filesystem refuses to make directory '${d}' (as /proc does); choose another place`), {
        code: "ENOENT",
        errno: -2,
        syscall: "mkdir",
        path: d
      })
    }
  }
  make(path.resolve(dir), true)
}
