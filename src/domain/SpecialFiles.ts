/**
 * Special files a backup records as themselves, as tar, restic and borg do: FIFOs (named pipes)
 * and device nodes. They hold no bytes of their own: a FIFO is its name, mode and owner; a device
 * node also its device number (`rdev`), which `mknod` needs to make it again.
 *
 * Sockets are not among them: one is an endpoint a running program made, and there is nothing to
 * make again (a restored socket file would connect to nothing); backups leave them out quietly.
 */
import type { Stats } from "node:fs"

export type SpecialKind = "fifo" | "chardev" | "blockdev"

export const specialKinds: ReadonlyArray<SpecialKind> = ["fifo", "chardev", "blockdev"]

export const isSpecialKind = (kind: string): kind is SpecialKind => (specialKinds as ReadonlyArray<string>).includes(kind)

/** The special kind an lstat found, or undefined for anything else (sockets included). */
export const specialKindOf = (st: Pick<Stats, "isFIFO" | "isCharacterDevice" | "isBlockDevice">): SpecialKind | undefined =>
  st.isFIFO() ? "fifo" : st.isCharacterDevice() ? "chardev" : st.isBlockDevice() ? "blockdev" : undefined

/**
 * A device number split as Linux's `major()` and `minor()` (glibc's encoding of dev_t: 12 bits of
 * major and 20 of minor, interleaved). `rdev` comes from Node's lstat as a number; it is below
 * 2^53 for every device Linux makes, so the arithmetic is exact in BigInt.
 */
export const deviceNumbers = (rdev: number): { readonly major: number; readonly minor: number } => {
  const d = BigInt(rdev)
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn)
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn)
  return { major: Number(major), minor: Number(minor) }
}

/** `major, minor` as ls -l shows a device node's number. */
export const shownDevice = (rdev: number | undefined): string => {
  const { major, minor } = deviceNumbers(rdev ?? 0)
  return `${major}, ${minor}`
}

/** The arguments after the name for `mknod NAME …`: `p`, or `c|b MAJOR MINOR`. */
export const mknodArgs = (kind: SpecialKind, rdev: number | undefined): ReadonlyArray<string> => {
  if (kind === "fifo") return ["p"]
  const { major, minor } = deviceNumbers(rdev ?? 0)
  return [kind === "chardev" ? "c" : "b", String(major), String(minor)]
}

/** What a backup records as an entry's device number: lstat's `rdev` for a device node, else nothing. */
export const rdevOf = (kind: string, rdev: number): number | undefined => (kind === "chardev" || kind === "blockdev" ? rdev : undefined)

/** A backup's `specials` count as its stats carry it: only when there are some, so that stats without any read as they did before. */
export const specialsCount = (n: number): { readonly specials?: number } => (n > 0 ? { specials: n } : {})

/** How messages name each kind. */
export const specialKindName: Record<SpecialKind, string> = { fifo: "FIFO (named pipe)", chardev: "character device", blockdev: "block device" }
