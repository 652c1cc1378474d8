import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { Effect, Fiber, Layer, Redacted } from "effect"
import { UserError } from "../../domain/Errors.ts"
import { handleRequest } from "../../services/gateway/Http.ts"
import { Multipart } from "../../services/gateway/Multipart.ts"
import { Objects } from "../../services/gateway/Objects.ts"
import { EventLog } from "../../services/manifest/EventLog.ts"
import { sealPending } from "../../services/manifest/Segments.ts"
import { rootCommand } from "../commands/shared.ts"
import { unlock, withRepository } from "../Open.ts"

/** How often new gateway events are sealed into log segments while the proxy runs. */
const sealEvery = "30 seconds"

export const parseListen = (listen: string): { host: string; port: number } | undefined => {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen.trim())
  if (!m) return undefined
  const port = Number(m[3])
  if (port > 65535) return undefined
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port }
}

/**
 * `enigma proxy`: an S3 endpoint over the repository. Holds the writer lock while it runs; on
 * SIGINT/SIGTERM it stops accepting requests, interrupts the ones in flight (their objects were
 * never appended, so they are simply absent) and seals the new events into log segments.
 */
export const proxy = Effect.fn("cli.proxy")(function*(a: {
  readonly listen: string
  readonly accessKey: string
  readonly secretKey: Redacted.Redacted<string>
}) {
  const address = parseListen(a.listen)
  if (!address) return yield* new UserError({ detail: `--listen: expected HOST:PORT, got ${JSON.stringify(a.listen)}` })
  const secret = Redacted.value(a.secretKey)
  if (a.accessKey === "" || secret === "") return yield* new UserError({ detail: "the proxy needs a non-empty access key and secret key" })
  const credentials = new Map([[a.accessKey, secret]])
  const opened = yield* unlock(yield* rootCommand)

  yield* withRepository(opened, "proxy", true, Effect.scoped(Effect.gen(function*() {
    const context = yield* Effect.context<Objects | Multipart>()
    const log = yield* EventLog
    const seal = sealPending(log, opened.providers, opened.ring.logKey).pipe(
      Effect.catch((e) => Effect.logWarning(`could not seal the log: ${e.message}`))
    )
    const inflight = new Set<Fiber.Fiber<void>>()
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      const fiber = Effect.runForkWith(context)(handleRequest(req, res, { credentials }))
      inflight.add(fiber)
      fiber.addObserver(() => inflight.delete(fiber))
    }
    const server = yield* Effect.acquireRelease(
      Effect.callback<ReturnType<typeof createServer>, UserError>((resume) => {
        const srv = createServer({ requestTimeout: 0 }, onRequest)
        // An unusual Expect header is answered like any request (Node would reply 417 itself).
        srv.on("checkExpectation", onRequest)
        srv.once("error", (e) => resume(Effect.fail(new UserError({ detail: `cannot listen on ${a.listen}: ${e.message}` }))))
        srv.listen(address.port, address.host, () => resume(Effect.succeed(srv)))
      }),
      (srv) =>
        Effect.gen(function*() {
          srv.close()
          srv.closeAllConnections()
          yield* Fiber.interruptAll(inflight)
          yield* seal
        })
    )
    const port = (server.address() as { port: number }).port
    process.stderr.write(`enigma proxy: listening on http://${address.host}:${port} (S3 path-style)\n`)
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(sealEvery), seal)))
    return yield* Effect.never
  })).pipe(Effect.provide(Multipart.layer.pipe(Layer.provideMerge(Objects.layer)))))
})
