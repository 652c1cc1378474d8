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
 * its answer: an error that says the filesystem refuses, code ENOENT. Other errors are Node's:
 * EEXIST where `dir` itself is a file, ENOTDIR where a parent is one (or a dangling symlink), the
 * system's error otherwise, each with `code`, `path` and `syscall`, so callers map them as before.
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
  const notDirectory = (d: string) =>
    Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${d}'`), { code: "ENOTDIR", errno: -20, syscall: "mkdir", path: d })
  const make = (d: string, last: boolean): void => {
    try {
      return void fs.mkdirSync(d, { mode: mode ?? 0o777 })
    } catch (e) {
      const code = (e as { code?: string }).code
      if (code === "EEXIST") {
        if (isDirectory(d)) return
        throw last ? e : notDirectory(d)
      }
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
      if (code === "EEXIST" && !last) throw notDirectory(d)
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
