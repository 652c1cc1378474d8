import { Effect, Semaphore } from "effect"

/**
 * Writes that end in an event for one object key (PUT, copy, multipart completion, DELETE), one
 * at a time per key: a conditional write (`If-None-Match: *`, `If-Match`) checks the object and
 * appends its event with no other write to that key in between, so two clients racing to create
 * the same key (a lock file, say) cannot both succeed. Different keys do not wait for each other.
 */
const locks = new Map<string, { readonly semaphore: Semaphore.Semaphore; users: number }>()

export const withKeyLock = <A, E, R>(bucket: string, key: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    const name = `${bucket}\u0000${key}`
    let entry = locks.get(name)
    if (entry === undefined) {
      entry = { semaphore: Semaphore.makeUnsafe(1), users: 0 }
      locks.set(name, entry)
    }
    const held = entry
    held.users++
    return held.semaphore.withPermits(1)(effect).pipe(
      Effect.ensuring(Effect.sync(() => {
        if (--held.users === 0) locks.delete(name)
      }))
    )
  })
