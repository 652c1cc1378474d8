/**
 * Decrypts an envelope's AES-256-GCM ciphertext where it lies: the plaintext is written over the
 * ciphertext a slice at a time, and the result is a view of the same buffer. The envelope is
 * header (`headerLength` bytes) ‖ ciphertext ‖ 16-byte tag (Envelope.ts).
 *
 * Why: `decipher.update` returns a new buffer, and Node makes it twice (the input's length plus a
 * block, then one of the exact length, copied into): opening a 4 MiB chunk took two fresh 4 MiB
 * allocations and a copy. Fresh memory is what costs on the machines here: each page touched for
 * the first time is a page fault of several microseconds. Slices of 64 KiB come from memory the
 * allocator recycles, still in cache, and are copied back onto pages already touched.
 *
 * GCM's ciphertext is as long as its plaintext, and what a decipher has given out never runs ahead
 * of what it was given: each output lands where input was already read, never on input not yet read.
 *
 * Throws when the tag does not authenticate; the ciphertext's bytes are then neither ciphertext
 * nor plaintext, so the envelope must be the caller's alone, to discard.
 *
 * Refers to nothing outside itself: its source text also runs on the chunk workers (ChunkThreads).
 */
export function openInPlace(
  crypto: Pick<typeof import("node:crypto"), "createDecipheriv">,
  key: import("node:crypto").KeyObject | Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  envelope: Uint8Array,
  headerLength: number
): Uint8Array {
  const slice = 64 * 1024
  const start = headerLength
  const end = envelope.length - 16
  const d = crypto.createDecipheriv("aes-256-gcm", key, nonce)
  d.setAAD(aad)
  d.setAuthTag(envelope.subarray(end))
  let written = start
  for (let at = start; at < end; at += slice) {
    const out = d.update(envelope.subarray(at, Math.min(at + slice, end)))
    envelope.set(out, written)
    written += out.length
    // Copied: freed now, not at a collection (a GiB opened leaves 16,384 of them: ~80 MB more peak
    // RSS). Never a reason to fail: a throw here would read as a failed authentication.
    try {
      if (out.byteOffset === 0 && out.byteLength === out.buffer.byteLength) out.buffer.transfer(0)
    } catch {
      // Not detachable: the collector frees it.
    }
  }
  const last = d.final()
  envelope.set(last, written)
  written += last.length
  if (written !== end) throw new Error(`decrypted ${written - start} bytes of ${end - start}`)
  return envelope.subarray(start, end)
}
