/**
 * File names as a backup stores them, for names that are not UTF-8.
 *
 * Why: Linux file names are bytes. Node decodes them as UTF-8, turning each invalid byte into
 * U+FFFD, and a path decoded that way names no file: a Latin-1 name such as `caf\xe9` could not
 * be read, so it was left out of the backup. The manifest (JSON events, SQLite text) holds
 * strings, so such a name is stored in a reversible text form:
 *
 *   - a byte that is not part of a valid UTF-8 sequence becomes U+FFFD and two lowercase hex
 *     digits (`caf\xe9` is stored as `caf\uFFFDe9`, shown as `caf�e9`);
 *   - a U+FFFD that really is in the name is doubled;
 *   - everything else is the name's UTF-8 text, unchanged.
 *
 * Names without U+FFFD in their stored form (nearly all) are the same string on disk, in the
 * manifest and on screen, and cost nothing here. Only bytes ≥ 0x80 are ever escaped, so an escape
 * never decodes to `/`, `.` or NUL: a stored path's safety can be checked on its text.
 */

/** A path for node:fs: a string, or the exact bytes when the name is not UTF-8. */
export type FsPath = string | Buffer

const mark = "\uFFFD"
const strictUtf8 = new TextDecoder("utf-8", { fatal: true })
const hex = "0123456789abcdef"
const utf8 = { encode: (s: string) => Buffer.from(s, "utf8") }

/** Length of the valid UTF-8 sequence starting at `i`, or 0 if the byte there starts none. */
const sequenceAt = (b: Uint8Array, i: number): number => {
  const c = b[i]!
  if (c < 0x80) return 1
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0
  if (c >= 0xe0 && c <= 0xef) {
    // No overlong forms (E0 80..9F) and no surrogates (ED A0..BF).
    const ok = c === 0xe0 ? cont(1, 0xa0) : c === 0xed ? cont(1, 0x80, 0x9f) : cont(1)
    return ok && cont(2) ? 3 : 0
  }
  if (c >= 0xf0 && c <= 0xf4) {
    // No overlong forms (F0 80..8F) and nothing past U+10FFFF (F4 90..).
    const ok = c === 0xf0 ? cont(1, 0x90) : c === 0xf4 ? cont(1, 0x80, 0x8f) : cont(1)
    return ok && cont(2) && cont(3) ? 4 : 0
  }
  return 0
}

/** The stored form of a name (or a whole path, or a symlink's target) given as bytes. */
export const storedName = (bytes: Uint8Array): string => {
  let text: string | undefined
  try {
    text = strictUtf8.decode(bytes)
  } catch {
    text = undefined
  }
  if (text !== undefined) return text.includes(mark) ? text.replaceAll(mark, mark + mark) : text
  let out = ""
  let i = 0
  while (i < bytes.length) {
    const n = sequenceAt(bytes, i)
    if (n === 0) {
      const c = bytes[i]!
      out += mark + hex[c >> 4]! + hex[c & 15]!
      i++
      continue
    }
    let end = i + n
    while (end < bytes.length) {
      const m = sequenceAt(bytes, end)
      if (m === 0) break
      end += m
    }
    const part = strictUtf8.decode(bytes.subarray(i, end))
    out += part.includes(mark) ? part.replaceAll(mark, mark + mark) : part
    i = end
  }
  return out
}

/** Whether `stored` names something other than its own UTF-8 text (it holds an escape). */
export const hasEscapes = (stored: string): boolean => stored.includes(mark)

const hexValue = (ch: string | undefined): number => {
  if (ch === undefined) return -1
  const v = hex.indexOf(ch)
  return v
}

/**
 * The bytes a stored name stands for. A U+FFFD followed by neither U+FFFD nor an escaped byte
 * (≥ 0x80; the encoder makes no other) is kept as itself.
 */
export const bytesOfStored = (stored: string): Buffer => {
  if (!hasEscapes(stored)) return utf8.encode(stored)
  const parts: Array<Buffer> = []
  const add = (p: Buffer) => parts.push(p)
  let from = 0
  let at = stored.indexOf(mark)
  while (at >= 0) {
    if (at > from) add(utf8.encode(stored.slice(from, at)))
    const hi = hexValue(stored[at + 1])
    const lo = hexValue(stored[at + 2])
    if (stored[at + 1] === mark) {
      add(utf8.encode(mark))
      from = at + 2
    } else if (hi >= 8 && lo >= 0) {
      add(Buffer.of(hi * 16 + lo))
      from = at + 3
    } else {
      add(utf8.encode(mark))
      from = at + 1
    }
    at = stored.indexOf(mark, from)
  }
  if (from < stored.length) add(utf8.encode(stored.slice(from)))
  return Buffer.concat(parts)
}

/** The path node:fs needs for a stored path: itself, or its bytes when it holds an escape. */
export const fsPathOf = (stored: string): FsPath => (hasEscapes(stored) ? bytesOfStored(stored) : stored)

const bytesOf = (p: FsPath): Buffer => (typeof p === "string" ? utf8.encode(p) : p)

const concatBytes = (...parts: ReadonlyArray<Uint8Array>): Buffer => Buffer.concat(parts)

const slash = utf8.encode("/")

/**
 * `base` + "/" + the stored relative path `rel`: a string when both are plain, else bytes. `base`
 * is an absolute directory without a trailing slash (or "/").
 */
export const joinStored = (base: FsPath, rel: string): FsPath => {
  if (typeof base === "string" && !hasEscapes(rel)) return base.endsWith("/") ? base + rel : `${base}/${rel}`
  const b = bytesOf(base)
  return b.length > 0 && b[b.length - 1] === 0x2f ? concatBytes(b, bytesOfStored(rel)) : concatBytes(b, slash, bytesOfStored(rel))
}

/** How a path is shown in messages: as it is, or (bytes) in its stored form. */
export const shownPath = (p: FsPath): string => (typeof p === "string" ? p : storedName(p))

/**
 * A name in the same directory as `p`: `prefix` + its last component + `suffix` (plain ASCII
 * both), e.g. a temp file written beside a target and renamed over it.
 */
export const besidePath = (p: FsPath, prefix: string, suffix: string): FsPath => {
  if (typeof p === "string") {
    const cut = p.lastIndexOf("/")
    return `${p.slice(0, cut + 1)}${prefix}${p.slice(cut + 1)}${suffix}`
  }
  const cut = p.lastIndexOf(0x2f)
  return concatBytes(p.subarray(0, cut + 1), utf8.encode(prefix), p.subarray(cut + 1), utf8.encode(suffix))
}
