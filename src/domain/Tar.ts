/**
 * The little of the POSIX ustar format that `enigma get --no-decrypt` writes: regular files only,
 * names under 100 bytes, sizes under 8 GiB. Any tar reads it (GNU tar, bsdtar, Python's tarfile).
 *
 * An archive is, per file, a 512-byte header, the bytes, zero padding to a multiple of 512; and
 * two zero blocks at the end.
 */
export const blockSize = 512

const field = (header: Uint8Array, offset: number, length: number, value: string) => {
  const bytes = new TextEncoder().encode(value)
  if (bytes.length > length) throw new Error(`tar header field too long: ${value}`)
  header.set(bytes, offset)
}

/** An octal number, zero-padded to `length - 1` digits and NUL-terminated. */
const octal = (n: number, length: number) => `${n.toString(8).padStart(length - 1, "0")}\0`

/** The header of a regular file `name` of `size` bytes, mode 0644, modified at `mtimeMs`. */
export const fileHeader = (name: string, size: number, mtimeMs: number): Uint8Array => {
  if (new TextEncoder().encode(name).length >= 100) throw new Error(`tar entry name too long: ${name}`)
  if (!Number.isSafeInteger(size) || size < 0 || size >= 8 ** 11) throw new Error(`tar entry too large: ${size} bytes`)
  const h = new Uint8Array(blockSize)
  field(h, 0, 100, name)
  field(h, 100, 8, octal(0o644, 8))
  field(h, 108, 8, octal(0, 8)) // uid
  field(h, 116, 8, octal(0, 8)) // gid
  field(h, 124, 12, octal(size, 12))
  field(h, 136, 12, octal(Math.floor(mtimeMs / 1000), 12))
  h[156] = "0".charCodeAt(0) // regular file
  field(h, 257, 6, "ustar\0")
  field(h, 263, 2, "00")
  // The checksum is computed with its own field as eight spaces.
  h.fill(0x20, 148, 156)
  const sum = h.reduce((a, b) => a + b, 0)
  field(h, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `)
  return h
}

/** Zero bytes that pad a file of `size` bytes to a whole number of blocks. */
export const padding = (size: number): Uint8Array => new Uint8Array((blockSize - (size % blockSize)) % blockSize)

/** The end of an archive: two zero blocks. */
export const end = (): Uint8Array => new Uint8Array(2 * blockSize)
