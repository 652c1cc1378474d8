import type * as NodeFs from "node:fs"

/*
 * The steps of writing a file atomically: under a temp name beside its final name, renamed into
 * place once complete (mode and mtime set), or removed on failure. Plain functions of `fs` and
 * their arguments only: the small-file writer also runs them on a worker thread, from their
 * source text, so one definition serves both threads.
 */

/** write(2) may write less than asked (a filling disk does exactly that): loop until done. */
export function writeAll(fs: typeof NodeFs, fd: number, bytes: Uint8Array, from: number, to: number): void {
  let done = from
  while (done < to) {
    const n = fs.writeSync(fd, bytes, done, to - done)
    if (n <= 0) throw Object.assign(new Error("no space left on device"), { code: "ENOSPC" })
    done += n
  }
}

/**
 * Mode (when the umask stripped bits of it) and mtime, then close and rename into place. Takes
 * over `fd`: on failure it closes it and removes the temp file before throwing.
 */
export function commitFile(fs: typeof NodeFs, fd: number, tmp: string, target: string, mode: number, mtimeMs: number, chmod: boolean): void {
  try {
    if (chmod) fs.fchmodSync(fd, mode)
    fs.futimesSync(fd, mtimeMs / 1000, mtimeMs / 1000)
  } catch (e) {
    abortFile(fs, fd, tmp)
    throw e
  }
  try {
    fs.closeSync(fd)
    fs.renameSync(tmp, target)
  } catch (e) {
    abortFile(fs, undefined, tmp)
    throw e
  }
}

/** Closes (when still open) and removes the temp file; never throws. */
export function abortFile(fs: typeof NodeFs, fd: number | undefined, tmp: string): void {
  if (fd !== undefined) {
    try {
      fs.closeSync(fd)
    } catch {
      // nothing more to release
    }
  }
  try {
    fs.rmSync(tmp, { force: true })
  } catch {
    // the temp name is ours alone; a leftover is harmless, the error is reported by the caller
  }
}

/** A whole file from bytes[from, to): created with its final mode (less the umask). */
export function writeWholeFile(
  fs: typeof NodeFs,
  tmp: string,
  target: string,
  mode: number,
  mtimeMs: number,
  chmod: boolean,
  bytes: Uint8Array,
  from: number,
  to: number
): void {
  const fd = fs.openSync(tmp, "wx", mode)
  try {
    writeAll(fs, fd, bytes, from, to)
  } catch (e) {
    abortFile(fs, fd, tmp)
    throw e
  }
  commitFile(fs, fd, tmp, target, mode, mtimeMs, chmod)
}
