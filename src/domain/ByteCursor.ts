/**
 * Sequential big-endian writing and reading of a binary format (the keyfile's two versions):
 * each read names the field it is in, so a short file says where it ends.
 */

/** A format error found while reading: its message is the one-line description for the user. */
export class Malformed extends Error {}

/** Throws RangeError unless `bytes` is `length` long: encoders check what our own code built. */
export const requireLength = (what: string, bytes: Uint8Array, length: number) => {
  if (bytes.length !== length) throw new RangeError(`${what} must be ${length} bytes, got ${bytes.length}`)
}

/** Writes into `out` from its start, in order. */
export const byteWriter = (out: Uint8Array) => {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength)
  let o = 0
  return {
    u8: (n: number) => {
      view.setUint8(o, n)
      o += 1
    },
    u16: (n: number) => {
      view.setUint16(o, n)
      o += 2
    },
    u32: (n: number) => {
      view.setUint32(o, n)
      o += 4
    },
    raw: (b: Uint8Array) => {
      out.set(b, o)
      o += b.length
    }
  }
}

/** Reads `bytes` from `start`, in order; a read past the end throws Malformed ("truncated: …"). */
export const byteReader = (bytes: Uint8Array, start: number) => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let o = start
  const take = (n: number, what: string): Uint8Array => {
    if (o + n > bytes.length) {
      throw new Malformed(`truncated: ${bytes.length} bytes, ends inside the ${what} (needs at least ${o + n})`)
    }
    const s = bytes.subarray(o, o + n)
    o += n
    return s
  }
  return {
    take,
    u8: (what: string) => take(1, what)[0]!,
    u16: (what: string) => {
      take(2, what)
      return view.getUint16(o - 2)
    },
    u32: (what: string) => {
      take(4, what)
      return view.getUint32(o - 4)
    },
    /** How far it has read. */
    offset: () => o
  }
}
