import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { randomBytes } from "node:crypto"
import * as path from "node:path"
import type { ChunkIdHash } from "../../src/domain/ChunkIdHash.ts"
import { ChunkStore } from "../../src/services/ChunkStore.ts"
import { OpenOnChunkWorkers } from "../../src/services/ChunkThreads.ts"
import { EventLog } from "../../src/services/manifest/EventLog.ts"
import { Repository } from "../../src/services/Repository.ts"
import { tempDir } from "../support/cli.ts"
import { testRepository } from "../support/repo.ts"
import { referenceId } from "../support/referenceIds.ts"
import { newLocalProvider } from "../support/localProvider.ts"

describe("ChunkStore: chunk ids under the repository's hash", () => {
  for (const hash of ["blake3", "hmac-sha256"] as const satisfies ReadonlyArray<ChunkIdHash>) {
    it.live(`${hash}: stored chunks are named by it, and reads re-hash with it on this thread and on the chunk workers`, () =>
      Effect.gen(function*() {
        const dir = tempDir()
        const layer = yield* testRepository(dir, [newLocalProvider("a", path.join(dir, "a"))], {}, hash)
        yield* Effect.gen(function*() {
          const { ring } = yield* Repository
          assert.strictEqual(ring.chunkIdKey.hash, hash)
          const store = yield* ChunkStore
          for (const plain of [randomBytes(17), randomBytes(3 * 1024 * 1024 + 5)]) {
            const stored = yield* store.store(plain)
            yield* (yield* EventLog).append([])
            assert.strictEqual(stored.id, referenceId(ring.chunkIdKey, plain))
            for (const onWorkers of [false, true]) {
              const back = yield* store.load(stored.id).pipe(Effect.provideService(OpenOnChunkWorkers, onWorkers))
              assert.isTrue(Buffer.from(back).equals(plain), `${plain.length} B, opened on workers: ${onWorkers}`)
            }
          }
        }).pipe(Effect.provide(layer))
      }))
  }
})
