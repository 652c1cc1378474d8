/**
 * POSIX tar (ustar, with pax extended headers where ustar falls short), as `enigma get
 * --no-decrypt` and `enigma dump` write it: regular files, directories, symlinks, hard links,
 * FIFOs and device nodes,
 * with mode, mtime and numeric owner. Any tar reads it (GNU tar, bsdtar, Python's tarfile).
 *
 * An archive is, per entry, a 512-byte header (after a pax header when the name, the link target
 * or the size does not fit ustar's fields), the bytes of a file, zero padding to a multiple of
 * 512; and two zero blocks at the end.
 */
export const blockSize = 512

/** Largest size ustar's 11 octal digits hold (8 GiB - 1); larger ones go in a pax header. */
const maxOctalSize = 8 ** 11 - 1

export type TarKind = "file" | "dir" | "symlink" | "hardlink" | "fifo" | "chardev" | "blockdev"

export interface TarEntry {
  /** The path in the archive, as bytes (names need not be UTF-8); directories without a trailing slash. */
  readonly name: Uint8Array
  readonly kind: TarKind
  /** Bytes that follow the header (files only; 0 for the others). */
  readonly size: number
  readonly mode: number
  readonly mtimeMs: number
  readonly uid?: number | undefined
  readonly gid?: number | undefined
  /** A symlink's target, or the archive path of the file a hard link shares its content with. */
  readonly linkName?: Uint8Array | undefined
  /** A device node's numbers (ustar's devmajor and devminor: 12 and 20 bits always fit). */
  readonly device?: { readonly major: number; readonly minor: number } | undefined
  /** Extended attributes, as `SCHILY.xattr.NAME` pax records (GNU tar `--xattrs`, bsdtar read them). */
  readonly xattrs?: ReadonlyArray<readonly [string, Uint8Array]> | undefined
}

const typeFlag: Record<TarKind, string> = { file: "0", hardlink: "1", symlink: "2", chardev: "3", blockdev: "4", dir: "5", fifo: "6" }

const ascii = (s: string) => new TextEncoder().encode(s)

const put = (header: Uint8Array, offset: number, length: number, bytes: Uint8Array) => {
  if (bytes.length > length) throw new Error(`tar header field too long: ${bytes.length} > ${length} bytes`)
  header.set(bytes, offset)
}

/** An octal number, zero-padded to `length - 1` digits and NUL-terminated. */
const octal = (n: number, length: number) => ascii(`${Math.max(0, Math.floor(n)).toString(8).padStart(length - 1, "0")}\0`)

/** A number for an octal field, or 0 when it does not fit (its real value then goes in a pax record). */
const fits = (n: number, length: number) => n >= 0 && n < 8 ** (length - 1)

/** Whether ustar's mtime field (whole seconds, 11 octal digits) holds it: from 1970 to 2242. */
const ustarHoldsTime = (mtimeMs: number) => fits(Math.floor(mtimeMs / 1000), 12)

const ustar = (
  name: Uint8Array,
  kind: string,
  size: number,
  mode: number,
  mtimeMs: number,
  uid: number,
  gid: number,
  linkName: Uint8Array,
  device?: { readonly major: number; readonly minor: number }
): Uint8Array => {
  const h = new Uint8Array(blockSize)
  put(h, 0, 100, name)
  put(h, 100, 8, octal(mode & 0o7777, 8))
  put(h, 108, 8, octal(fits(uid, 8) ? uid : 0, 8))
  put(h, 116, 8, octal(fits(gid, 8) ? gid : 0, 8))
  put(h, 124, 12, octal(size, 12))
  // Before 1970 or after 2242 the field cannot hold it: 0 there, the real time in a pax record.
  put(h, 136, 12, octal(ustarHoldsTime(mtimeMs) ? mtimeMs / 1000 : 0, 12))
  h[156] = kind.charCodeAt(0)
  put(h, 157, 100, linkName)
  put(h, 257, 6, ascii("ustar\0"))
  put(h, 263, 2, ascii("00"))
  if (device !== undefined) {
    put(h, 329, 8, octal(device.major, 8))
    put(h, 337, 8, octal(device.minor, 8))
  }
  // The checksum is computed with its own field as eight spaces.
  h.fill(0x20, 148, 156)
  const sum = h.reduce((a, b) => a + b, 0)
  put(h, 148, 8, ascii(`${sum.toString(8).padStart(6, "0")}\0 `))
  return h
}

/** One pax record: "<length> <key>=<value>\n", the length counting itself. */
const paxRecord = (key: string, value: Uint8Array): Uint8Array => {
  const body = value.length + key.length + 3 // " ", "=", "\n"
  let length = body + String(body).length
  if (String(length).length !== String(body).length) length = body + String(length).length
  const out = new Uint8Array(length)
  out.set(ascii(`${length} ${key}=`))
  out.set(value, length - value.length - 1)
  out[length - 1] = 0x0a
  return out
}

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/** Zero bytes that pad `size` bytes to a whole number of blocks. */
export const padding = (size: number): Uint8Array => new Uint8Array((blockSize - (size % blockSize)) % blockSize)

/**
 * The header(s) of `e`: a pax header first when a name or link target is 100 bytes or more, a
 * size or owner does not fit ustar's fields, the mtime has a fraction of a second, or it has
 * extended attributes. Names that are not UTF-8 go in as they are, marked
 * `hdrcharset=BINARY`, which GNU tar and bsdtar honour.
 */
export const entryHeader = (e: TarEntry): Uint8Array => {
  if (!Number.isSafeInteger(e.size) || e.size < 0) throw new Error(`tar entry size is not a byte count: ${e.size}`)
  const uid = e.uid ?? 0
  const gid = e.gid ?? 0
  const linkName = e.linkName ?? new Uint8Array(0)
  const records: Array<Uint8Array> = []
  const binary = !isUtf8(e.name) || !isUtf8(linkName)
  if (binary) records.push(paxRecord("hdrcharset", ascii("BINARY")))
  if (e.name.length >= 100) records.push(paxRecord("path", e.name))
  if (linkName.length >= 100) records.push(paxRecord("linkpath", linkName))
  if (e.size > maxOctalSize) records.push(paxRecord("size", ascii(String(e.size))))
  // ustar keeps whole seconds from 1970 to 2242: a finer mtime, or one outside those years, goes in
  // a pax record (truncated to the microsecond, so the millisecond never rounds up; negative
  // before 1970, as GNU tar writes and reads it).
  const micros = Math.floor(e.mtimeMs * 1000)
  if (micros % 1_000_000 !== 0 || !ustarHoldsTime(e.mtimeMs)) {
    const whole = Math.abs(micros)
    const fraction = whole % 1_000_000
    records.push(paxRecord("mtime", ascii(`${micros < 0 ? "-" : ""}${Math.floor(whole / 1_000_000)}${fraction === 0 ? "" : `.${String(fraction).padStart(6, "0")}`}`)))
  }
  if (!fits(uid, 8)) records.push(paxRecord("uid", ascii(String(uid))))
  if (!fits(gid, 8)) records.push(paxRecord("gid", ascii(String(gid))))
  for (const [key, value] of e.xattrs ?? []) records.push(paxRecord(`SCHILY.xattr.${key}`, value))
  const main = ustar(
    e.name.length >= 100 ? e.name.subarray(0, 99) : e.name,
    typeFlag[e.kind],
    e.size > maxOctalSize ? 0 : e.size,
    e.mode,
    e.mtimeMs,
    uid,
    gid,
    linkName.length >= 100 ? linkName.subarray(0, 99) : linkName,
    e.device
  )
  if (records.length === 0) return main
  const pax = concat(records)
  return concat([ustar(ascii("././@PaxHeader"), "x", pax.length, 0o644, e.mtimeMs, 0, 0, new Uint8Array(0)), pax, padding(pax.length), main])
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true })
const isUtf8 = (b: Uint8Array) => {
  try {
    strictUtf8.decode(b)
    return true
  } catch {
    return false
  }
}

/**
 * The header of a regular file `name` of `size` bytes, mode 0644, owned by 0:0, modified at
 * `mtimeMs` (the archive of `get --no-decrypt`). Names of 100 bytes or more and sizes of 8 GiB or
 * more are refused: that archive never has them.
 */
export const fileHeader = (name: string, size: number, mtimeMs: number): Uint8Array => {
  const bytes = ascii(name)
  if (bytes.length >= 100) throw new Error(`tar entry name too long: ${name}`)
  if (!Number.isSafeInteger(size) || size < 0 || size > maxOctalSize) throw new Error(`tar entry too large: ${size} bytes`)
  return entryHeader({ name: bytes, kind: "file", size, mode: 0o644, mtimeMs })
}

/** The end of an archive: two zero blocks. */
export const end = (): Uint8Array => new Uint8Array(2 * blockSize)
