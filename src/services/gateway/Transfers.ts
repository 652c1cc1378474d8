import { Context, Effect, Layer, Semaphore, Stream } from "effect"
import { Repository } from "../Repository.ts"

/** `s3_proxy.max_transfers` when the config leaves it out. */
export const defaultMaxTransfers = 16
/** Request bodies from this size on count as large transfers (smaller ones cost little memory). */
export const largeBody = 1024 * 1024

/**
 * The gateway's bound on memory across requests. A large transfer holds chunk-sized buffers while
 * it runs: a PUT's chunks being sealed and written (`upload_concurrency`), a GET's chunks read
 * ahead, plaintext and sealed, ~40–55 MB each with 4 MiB chunks. Without a bound, memory grew with
 * the number of clients (8 clients: ~580 MB). So each large transfer holds one of
 * `s3_proxy.max_transfers` permits while it runs, and further ones wait their turn.
 *
 * A transfer gives its permit back however it ends: done, failed, or interrupted because its
 * client went away or stalled past `idle_timeout_secs` (the proxy closes such connections).
 */
export class Transfers extends Context.Service<Transfers, {
  /** Runs `self` holding a permit. */
  readonly hold: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** A stream that takes a permit when first pulled and gives it back when it ends. */
  readonly holdStream: <A, E, R>(self: Stream.Stream<A, E, R>) => Stream.Stream<A, E, R>
}>()("enigma/services/gateway/Transfers") {
  static readonly layer = Layer.effect(Transfers)(Effect.gen(function*() {
    const repo = yield* Repository
    const permits = yield* Semaphore.make(repo.settings.s3_proxy?.max_transfers ?? defaultMaxTransfers)
    return Transfers.of({
      hold: (self) => permits.withPermits(1)(self),
      holdStream: (self) => Stream.unwrap(Effect.as(permits.takeScoped(1), self))
    })
  }))
}
