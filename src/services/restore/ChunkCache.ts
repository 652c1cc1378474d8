import { Deferred, Effect } from "effect"
import type { ChunkCorrupt } from "../../domain/Errors.ts"
import { releaseBuffers } from "../ReleaseBuffers.ts"

interface Entry {
  readonly loaded: Deferred.Deferred<Uint8Array, ChunkCorrupt>
  /** The plaintext once loaded, until freed. */
  value: Uint8Array | undefined
  /** Users between asking for the chunk and being done with its bytes. */
  pins: number
  /** Out of the cache: freed once the last user is done. */
  evicted: boolean
}

/**
 * Restore's chunks, shared by the small files that live in them: the last `capacity` chunks asked
 * for, each loaded once however many files want it at once.
 *
 * A chunk's buffer is freed as soon as it has left the cache and its last user is done, rather
 * than whenever V8 next collects (a 4 MiB plaintext each, one after the other: the collector let
 * 100 MB of them pile up). So callers see a chunk only inside `use`, and must not keep a view of
 * it past the effect `use` returns.
 */
export class ChunkCache {
  private readonly entries = new Map<string, Entry>()
  private readonly load: (id: string) => Effect.Effect<Uint8Array, ChunkCorrupt>
  private readonly capacity: number

  constructor(load: (id: string) => Effect.Effect<Uint8Array, ChunkCorrupt>, capacity: number) {
    this.load = load
    this.capacity = capacity
  }

  has(id: string): boolean {
    return this.entries.has(id)
  }

  /** Runs `f` with the chunk's plaintext, which stays valid until `f`'s effect ends. */
  use<A, E, R>(id: string, f: (plain: Uint8Array) => Effect.Effect<A, E, R>): Effect.Effect<A, E | ChunkCorrupt, R> {
    return Effect.suspend(() => {
      const existing = this.entries.get(id)
      let entry: Entry
      let loadHere = false
      if (existing !== undefined) {
        entry = existing
        // Most recently used last.
        this.entries.delete(id)
        this.entries.set(id, entry)
      } else {
        entry = { loaded: Deferred.makeUnsafe<Uint8Array, ChunkCorrupt>(), value: undefined, pins: 0, evicted: false }
        this.entries.set(id, entry)
        loadHere = true
        this.evictBeyondCapacity()
      }
      entry.pins++
      const plain = loadHere
        ? Effect.exit(this.load(id)).pipe(
          Effect.tap((r) => {
            // A failed load leaves the cache: the next user tries again (and reports it).
            if (r._tag === "Failure" && this.entries.get(id) === entry) this.entries.delete(id)
            if (r._tag === "Success") entry.value = r.value
            return Deferred.done(entry.loaded, r)
          }),
          Effect.flatten
        )
        : Deferred.await(entry.loaded)
      return Effect.flatMap(plain, f).pipe(Effect.ensuring(Effect.sync(() => this.unpin(entry))))
    })
  }

  private evictBeyondCapacity() {
    while (this.entries.size > this.capacity) {
      const [oldestId, oldest] = this.entries.entries().next().value!
      this.entries.delete(oldestId)
      oldest.evicted = true
      if (oldest.pins === 0) this.free(oldest)
    }
  }

  private unpin(entry: Entry) {
    entry.pins--
    if (entry.pins === 0 && entry.evicted) this.free(entry)
  }

  /** Frees a loaded chunk's buffer (one that never loaded has none). */
  private free(entry: Entry) {
    if (entry.value !== undefined) releaseBuffers([entry.value])
    entry.value = undefined
  }
}
