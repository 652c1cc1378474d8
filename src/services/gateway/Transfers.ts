import { Context, Duration, Effect, Layer, Option, Semaphore, Stream } from "effect"
import { s3Error, type S3Error } from "../../domain/s3/S3Error.ts"
import { Repository } from "../Repository.ts"

/** `s3_proxy.max_transfers` when the config leaves it out. */
export const defaultMaxTransfers = 16
/** `s3_proxy.transfer_wait_secs` when the config leaves it out. */
export const defaultTransferWaitSecs = 30
/** Request bodies from this size on count as large transfers (smaller ones cost little memory). */
export const largeBody = 1024 * 1024

/**
 * The gateway's bound on memory across requests. A large transfer holds chunk-sized buffers while
 * it runs: a PUT's chunks being sealed and written (`upload_concurrency`), a GET's chunks read
 * ahead, plaintext and sealed, ~40–55 MB each with 4 MiB chunks. Without a bound, memory grew with
 * the number of clients (8 clients: ~580 MB). So each large transfer holds one of
 * `s3_proxy.max_transfers` permits while it runs, and further ones wait their turn.
 *
 * A request that waits `transfer_wait_secs` without getting a turn is answered 503 SlowDown, as S3
 * answers a client that sends too much at once: S3 clients back off and retry, where a request
 * left waiting would run into the client's own timeout (aws-cli's is 60 s) or the proxy's idle
 * timeout. A transfer gives its permit back however it ends: done, failed, or interrupted because
 * its client went away or stalled past `idle_timeout_secs` (the proxy closes such connections).
 */
export class Transfers extends Context.Service<Transfers, {
  /** Runs `self` holding a permit; SlowDown if none comes in time. */
  readonly hold: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | S3Error, R>
  /**
   * Takes a permit (SlowDown if none comes in time) for a transfer whose end is signalled by calling
   * `done`, once or more: a response body that runs after the handler. `onTaken` gets `done` as
   * soon as the permit is taken, with no interruption in between, so it cannot be lost.
   */
  readonly take: (onTaken: (done: () => void) => void) => Effect.Effect<void, S3Error>
  /** A stream that takes a permit when first pulled (waiting as long as it takes) and gives it back when it ends. */
  readonly holdStream: <A, E, R>(self: Stream.Stream<A, E, R>) => Stream.Stream<A, E, R>
}>()("enigma/services/gateway/Transfers") {
  static readonly layer = Layer.effect(Transfers)(Effect.gen(function*() {
    const repo = yield* Repository
    const permits = yield* Semaphore.make(repo.settings.s3_proxy?.max_transfers ?? defaultMaxTransfers)
    const wait = Duration.seconds(repo.settings.s3_proxy?.transfer_wait_secs ?? defaultTransferWaitSecs)
    const slowDown = s3Error("SlowDown", 503, "Please reduce your request rate.")
    const acquire = permits.take(1).pipe(
      Effect.timeoutOption(wait),
      Effect.flatMap(Option.match({ onNone: () => Effect.fail(slowDown), onSome: () => Effect.void }))
    )
    const release = permits.release(1)
    return Transfers.of({
      hold: (self) => Effect.acquireUseRelease(acquire, () => self, () => release),
      take: (onTaken) =>
        Effect.uninterruptibleMask((restore) =>
          Effect.map(restore(acquire), () => {
            let held = true
            onTaken(() => {
              if (!held) return
              held = false
              Effect.runFork(release)
            })
          })
        ),
      holdStream: (self) => Stream.unwrap(Effect.as(permits.takeScoped(1), self))
    })
  }))
}
