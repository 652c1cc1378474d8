import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { randomBytes } from "node:crypto"
import * as path from "node:path"
import * as Envelope from "../../src/domain/Envelope.ts"
import { ChunkStore } from "../../src/services/ChunkStore.ts"
import { EventLog } from "../../src/services/manifest/EventLog.ts"
import type { StorageProvider } from "../../src/services/storage/StorageProvider.ts"
import { tempDir } from "../support/cli.ts"
import { testRepository } from "../support/repo.ts"
import { newLocalProvider } from "../support/localProvider.ts"

/** A Local provider that records how many parts each `put` was given, claiming `writesParts` or not. */
const recording = (name: string, dir: string, writesParts: boolean) => {
  const inner = newLocalProvider(name, path.join(dir, name))
  const parts: Array<number> = []
  const provider: StorageProvider = {
    ...inner,
    writesParts,
    put: (key, body, options) => {
      parts.push(body instanceof Uint8Array ? 1 : body.length)
      return inner.put(key, body, options)
    }
  }
  return { provider, parts }
}

/** Stores chunks of 3 MiB + 5 B and 17 B, then reads each back through the store. */
const storeAndLoad = (providers: ReadonlyArray<StorageProvider>, dir: string) =>
  Effect.gen(function*() {
    const layer = yield* testRepository(dir, providers, { copies: providers.length })
    return yield* Effect.gen(function*() {
      const store = yield* ChunkStore
      for (const plain of [randomBytes(3 * 1024 * 1024 + 5), randomBytes(17)]) {
        const stored = yield* store.store(plain)
        yield* (yield* EventLog).append([]) // the ChunkStored event is recorded; this makes it durable
        assert.strictEqual(stored.storedSize, Envelope.headerLength + plain.length + Envelope.tagLength)
        assert.deepStrictEqual(Buffer.from(yield* store.load(stored.id)), plain)
      }
    }).pipe(Effect.provide(layer))
  })

describe("ChunkStore: a sealed chunk as parts or as one buffer", () => {
  it.live("providers that write parts get the envelope as its encrypted pieces; it reads back exactly", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const a = recording("a", dir, true)
      yield* storeAndLoad([a.provider], dir)
      // header, four 1 MiB pieces (the last one 5 B), final block, tag; the small chunk: header, piece, final, tag.
      assert.deepStrictEqual(a.parts, [7, 4])
    }))

  it.live("one provider that joins parts (an S3 PUT needs one body) makes every copy a single buffer", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const a = recording("a", dir, true)
      const b = recording("b", dir, false)
      yield* storeAndLoad([a.provider, b.provider], dir)
      assert.deepStrictEqual(a.parts, [1, 1])
      assert.deepStrictEqual(b.parts, [1, 1])
    }))
})
