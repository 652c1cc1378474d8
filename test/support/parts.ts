/** `bytes` cut at random points into parts, as a sealed envelope's header, pieces and tag come. */
export const cutIntoParts = (bytes: Uint8Array): Array<Uint8Array> => {
  const parts: Array<Uint8Array> = []
  let at = 0
  while (at < bytes.length) {
    const n = Math.min(bytes.length - at, 1 + Math.floor(Math.random() * 700_000))
    parts.push(bytes.subarray(at, at + n))
    at += n
  }
  return parts
}
