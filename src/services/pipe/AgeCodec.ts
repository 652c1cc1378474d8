import { Effect } from "effect"
import type { ChunkCodec } from "../ChunkCodec.ts"
import type { IdKey } from "../../domain/ChunkIdHash.ts"
import { makeIdOf, namespacedIdKey } from "../ChunkIdHashing.ts"

/**
 * Chunks of an age-encrypted stream (`put --age-recipient` / `--age-identity`): each chunk object
 * is a stand-alone binary age file of the chunk's plaintext, so `age -d -i key.txt` decrypts any
 * of them without Enigma, and the recipients' private keys are needed to read — not to write.
 * Classic X25519 (`age1…`) and post-quantum hybrid ML-KEM-768 + X25519 (`age1pq1…`) recipients
 * work; the `age-encryption` package (typage) does the format, and loads only when used.
 *
 * Chunk ids are keyed by the repository's chunk-id key and the recipient set, so streams to the
 * same recipients deduplicate, and no age chunk is ever mistaken for a repository-encrypted one.
 */
const loadAge = () => import("age-encryption")

const recipientPattern = /^age1[02-9ac-hj-np-z]+$/
const identityPattern = /^AGE-SECRET-KEY-(PQ-)?1[02-9AC-HJ-NP-Z]+$/

/** Identities from an age identity file (`age-keygen` output): `AGE-SECRET-KEY-…` lines, `#` comments. */
export const parseIdentityFile = (text: string): ReadonlyArray<string> | string => {
  const ids = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"))
  if (ids.length === 0) return "holds no identity (expected AGE-SECRET-KEY-… lines, as age-keygen writes)"
  const bad = ids.find((l) => !identityPattern.test(l))
  if (bad !== undefined) return `has a line that is not an age identity: ${bad.slice(0, 20)}… (plugin and SSH identities are not supported)`
  return ids
}

export const checkRecipient = (r: string): string | undefined =>
  recipientPattern.test(r) ? undefined : `${r.slice(0, 24)}${r.length > 24 ? "…" : ""} is not an age recipient (age1… or age1pq1…)`

/** The recipients of `identities`; the package loads only when there are some. */
export const recipientsOf = (identities: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<string>> =>
  Effect.promise(async () => {
    if (identities.length === 0) return []
    const age = await loadAge()
    return Promise.all(identities.map((i) => age.identityToRecipient(i)))
  })

/** A codec that encrypts to `recipients` and, given `identities`, decrypts. */
export const makeAgeCodec = (
  chunkIdKey: IdKey,
  recipients: ReadonlyArray<string>,
  identities: ReadonlyArray<string> = []
): ChunkCodec => {
  const idKey = namespacedIdKey(chunkIdKey, `enigma-age-chunk-id-v1\u0000${[...recipients].sort().join("\n")}`)
  return {
    format: "age",
    idOf: makeIdOf(idKey),
    idKey,
    seal: (plain) =>
      Effect.promise(async () => {
        const age = await loadAge()
        const e = new age.Encrypter()
        for (const r of recipients) e.addRecipient(r)
        return await e.encrypt(plain)
      }),
    open: identities.length === 0
      ? undefined
      : (bytes) =>
        Effect.tryPromise({
          try: async () => {
            const age = await loadAge()
            const d = new age.Decrypter()
            for (const i of identities) d.addIdentity(i)
            return await d.decrypt(bytes)
          },
          catch: (e) => `age decryption failed: ${(e as Error)?.message ?? String(e)}`
        })
  }
}
