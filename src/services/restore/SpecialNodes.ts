/**
 * Making FIFOs and device nodes again on restore. Node has no mknod or mkfifo, so this runs
 * coreutils' `mknod`, which every Linux system has; special files are few, so one process each
 * costs nothing that matters.
 */
import { execFile } from "node:child_process"
import { mknodArgs, type SpecialKind } from "../../domain/SpecialFiles.ts"

/** mknod refused: a device node needs privilege (CAP_MKNOD) that this process lacks. */
export class NodeNotPermitted extends Error {
  readonly code = "EPERM"
}

/**
 * Makes `kind` at `at`, which must not exist, with mode 0600; the caller sets owner, mode and
 * times, then renames it into place. `at` is text, as a command's arguments are: a caller with a
 * name that is not UTF-8 makes it under a text name and renames it. Rejects with NodeNotPermitted
 * when the kernel refuses it for want of privilege, else with an Error saying what mknod said.
 */
export const makeNode = (at: string, kind: SpecialKind, rdev: number | undefined): Promise<void> =>
  new Promise((resolve, reject) => {
    // LC_ALL=C: its message is read for "Operation not permitted" below.
    execFile("mknod", ["-m", "600", "--", at, ...mknodArgs(kind, rdev)], { env: { ...process.env, LC_ALL: "C" } }, (err, _out, stderr) => {
      if (err === null) return resolve()
      const said = String(stderr).trim().replace(/^mknod: /, "")
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return reject(new Error("the mknod command (coreutils) is not on PATH; it makes FIFOs and device nodes"))
      if (/Operation not permitted/.test(said)) return reject(new NodeNotPermitted("Operation not permitted"))
      reject(new Error(said !== "" ? said : err.message))
    })
  })
