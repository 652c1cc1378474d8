import { Effect, Stream } from "effect"
import type { ChunkCorrupt } from "../../domain/Errors.ts"
import * as Tar from "../../domain/Tar.ts"
import type { ChunkStore } from "../ChunkStore.ts"
import type { StreamChunkRow, StreamRow } from "../manifest/Manifest.ts"
import type { GetResult } from "./Pipe.ts"

/**
 * `enigma get NAME --no-decrypt` (s3duct's raw download): the stream's chunk objects exactly as
 * stored, still encrypted, as a tar archive on stdout —
 *   stream.json          the stream and, per chunk, its file, id, sizes, plaintext SHA-256 and
 *                        SHA3-256 and chain link (to check the bytes once decrypted)
 *   chunks/000000.age    a stream encrypted to age recipients: each file decrypts with `age -d`
 *   chunks/000000.enigma the repository's envelope (AES-256-GCM under the repository's keys)
 *   chunks/000000.bin    a `--no-encrypt` stream: the plaintext itself
 * Nothing is decrypted, so nothing is authenticated here beyond each object's size; `enigma
 * verify NAME --read-data` checks the stored chunks themselves.
 */
const extension = { age: "age", envelope: "enigma", plain: "bin" } as const

const entryName = (index: number, format: keyof typeof extension) =>
  `chunks/${String(index).padStart(6, "0")}.${extension[format]}`

export const exportStored = <E, F>(o: {
  readonly stream: StreamRow
  readonly rows: ReadonlyArray<StreamChunkRow>
  readonly chunks: ChunkStore["Service"]
  readonly readAhead: number
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, E>
  /** The error a chunk that cannot be fetched stops the output with. */
  readonly corrupt: (index: number, chunkId: string, e: ChunkCorrupt) => F
}): Effect.Effect<GetResult, E | F> =>
  Effect.gen(function*() {
    const startedAt = Date.now()
    const { stream: s, rows, chunks, write } = o
    const mtime = s.committedAt ?? s.startedAt
    let bytes = 0
    const emit = (b: Uint8Array) => Effect.map(write(b), () => void (bytes += b.length))
    const file = (name: string, content: Uint8Array) =>
      Effect.gen(function*() {
        yield* emit(Tar.fileHeader(name, content.length, mtime))
        yield* emit(content)
        const pad = Tar.padding(content.length)
        if (pad.length > 0) yield* emit(pad)
      })

    const description = {
      name: s.name,
      streamId: s.id,
      encryption: s.unencrypted ? "none" : s.ageRecipients !== undefined ? "age" : "repository",
      ...(s.ageRecipients !== undefined ? { ageRecipients: s.ageRecipients } : {}),
      bytes: s.bytes,
      chunks: rows.length,
      chain: s.chain,
      entries: rows.map((r) => {
        const stored = chunks.row(r.chunkId)
        return {
          file: entryName(r.index, stored?.format ?? "envelope"),
          index: r.index,
          chunkId: r.chunkId,
          size: r.size,
          storedSize: stored?.storedSize,
          sha256: r.sha256,
          sha3: r.sha3,
          chain: r.chain
        }
      })
    }
    yield* file("stream.json", new TextEncoder().encode(`${JSON.stringify(description, null, 2)}\n`))
    yield* Stream.fromIterable(rows).pipe(
      Stream.mapEffect((r) =>
        chunks.loadStored(r.chunkId).pipe(
          Effect.map((stored) => ({ r, stored })),
          Effect.mapError((e) => o.corrupt(r.index, r.chunkId, e))
        ), { concurrency: o.readAhead }),
      Stream.runForEach(({ r, stored }) => file(entryName(r.index, stored.format), stored.bytes))
    )
    yield* emit(Tar.end())
    return { streamId: s.id, name: s.name, bytes, chunks: rows.length, durationMs: Date.now() - startedAt } satisfies GetResult
  })
