import { readFileSync } from "node:fs"
import { createServer } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import { createSecureContext } from "node:tls"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Layer, Option, Redacted } from "effect"
import { HttpRouter } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import { UserError } from "../../domain/Errors.ts"
import { parseListen } from "../../domain/Listen.ts"
import type { S3ProxySection } from "../../domain/Settings.ts"
import { handleRequest } from "../../services/gateway/Http.ts"
import { observeRequest } from "../../services/gateway/Metrics.ts"
import { Multipart } from "../../services/gateway/Multipart.ts"
import { Objects } from "../../services/gateway/Objects.ts"
import { Transfers } from "../../services/gateway/Transfers.ts"
import { EventLog } from "../../services/manifest/EventLog.ts"
import { sealPending } from "../../services/manifest/Segments.ts"
import { rootCommand } from "../commands/shared.ts"
import { type GlobalOptions, unlock, withRepository } from "../Open.ts"

/** `s3_proxy.idle_timeout_secs` when the config leaves it out. */
const defaultIdleTimeoutSecs = 300

/** How often new gateway events are sealed into log segments while the proxy runs. */
const sealEvery = "30 seconds"

/** The seed's default `listen_addr`. */
export const defaultListen = "0.0.0.0:8333"

export interface ProxyFlags {
  readonly listen: Option.Option<string>
  readonly accessKey: Option.Option<string>
  readonly secretKey: Option.Option<Redacted.Redacted<string>>
  /** Base domains for virtual-hosted-style requests (`<bucket>.<domain>`), besides the config's. */
  readonly virtualHost: ReadonlyArray<string>
}

/**
 * Access key → secret: `[s3_proxy]` access_key/secret_key, then `[[s3_proxy.users]]`, then the
 * command line (or ENIGMA_PROXY_* env) pair, which wins for its access key.
 */
export const credentialsOf = (config: S3ProxySection | undefined, flags: ProxyFlags) => {
  const credentials = new Map<string, string>()
  if (config?.access_key !== undefined && config.secret_key !== undefined) credentials.set(config.access_key, config.secret_key)
  for (const u of config?.users ?? []) credentials.set(u.access_key, u.secret_key)
  if (Option.isSome(flags.accessKey) !== Option.isSome(flags.secretKey)) {
    return new UserError({ detail: "--access-key and --secret-key go together (or ENIGMA_PROXY_ACCESS_KEY and ENIGMA_PROXY_SECRET_KEY)" })
  }
  if (Option.isSome(flags.accessKey) && Option.isSome(flags.secretKey)) {
    const secret = Redacted.value(flags.secretKey.value)
    if (flags.accessKey.value === "" || secret === "") return new UserError({ detail: "--access-key and --secret-key must not be empty" })
    credentials.set(flags.accessKey.value, secret)
  }
  if (credentials.size === 0) {
    return new UserError({
      detail: "the proxy has no S3 credentials: set access_key and secret_key (or [[s3_proxy.users]]) in [s3_proxy] of the config, or pass --access-key/--secret-key"
    })
  }
  return credentials
}

const readPem = (file: string, field: string) =>
  Effect.try({
    try: () => readFileSync(file),
    catch: (e) => new UserError({ detail: `s3_proxy.${field}: cannot read ${file}: ${(e as Error).message}` })
  })

/** Why a server could not listen: the socket's own error (EADDRINUSE…), which effect/http keeps as the cause. */
const listenFailure = (e: { readonly message: string; readonly cause?: unknown }) =>
  (e.cause as Error | undefined)?.message || e.message || String(e.cause ?? "unknown error")

/**
 * The certificate and key, checked as TLS will use them (PEM, the key the certificate's), so that
 * a wrong pair is named before the repository is opened rather than as an internal error.
 */
const checkTlsPair = (tls: { readonly cert: Buffer; readonly key: Buffer }, certFile: string, keyFile: string) =>
  Effect.try({
    try: () => void createSecureContext({ cert: tls.cert, key: tls.key }),
    catch: (e) => new UserError({
      detail: `s3_proxy.tls_cert and tls_key (${certFile}, ${keyFile}) do not serve TLS: ${(e as Error).message.replace(/^error:[0-9A-F]+:/, "")}; give a PEM certificate and its own private key`
    })
  })

/** Prometheus text at http://ADDR/metrics, served by effect/http for the proxy's lifetime. */
const serveMetrics = (listen: string) =>
  Effect.gen(function*() {
    const address = parseListen(listen)
    if (!address) return yield* new UserError({ detail: `s3_proxy.metrics_addr: expected HOST:PORT, got ${JSON.stringify(listen)}` })
    const app = HttpRouter.serve(PrometheusMetrics.layerHttp({ path: "/metrics" }), { disableLogger: true, disableListenLog: true }).pipe(
      Layer.provide(NodeHttpServer.layer(() => createServer(), { port: address.port, host: address.host }))
    )
    yield* Layer.build(app).pipe(Effect.mapError((e) => new UserError({ detail: `cannot serve metrics on ${listen}: ${listenFailure(e)}` })))
  })

/**
 * `enigma proxy` / `enigma-proxy`: an S3 endpoint over the repository, configured by
 * `[s3_proxy]` (flags override). Holds the writer lock while it runs; on SIGINT/SIGTERM it stops
 * accepting requests, interrupts the ones in flight (their objects were never appended, so they
 * are simply absent) and seals the new events into log segments.
 */
export const proxy = Effect.fn("cli.proxy")(function*(flags: ProxyFlags, global?: GlobalOptions) {
  const opened = yield* unlock(global ?? (yield* rootCommand))
  const config = opened.settings.s3_proxy
  const listen = Option.getOrElse(flags.listen, () => config?.listen_addr ?? defaultListen)
  const address = parseListen(listen)
  if (!address) return yield* new UserError({ detail: `--listen: expected HOST:PORT, got ${JSON.stringify(listen)}` })
  const credentials = credentialsOf(config, flags)
  if (credentials instanceof UserError) return yield* credentials
  const tls = config?.tls_cert !== undefined && config.tls_key !== undefined
    ? { cert: yield* readPem(config.tls_cert, "tls_cert"), key: yield* readPem(config.tls_key, "tls_key") }
    : undefined
  if (tls !== undefined) yield* checkTlsPair(tls, config!.tls_cert!, config!.tls_key!)
  const region = config?.default_region ?? "us-east-1"
  const virtualHosts = [...new Set([...(config?.virtual_host_domains ?? []), ...flags.virtualHost])]

  yield* withRepository(opened, "proxy", true, Effect.scoped(Effect.gen(function*() {
    const log = yield* EventLog
    const seal = sealPending(log, opened.providers, opened.ring.logKey).pipe(
      Effect.catch((e) => Effect.logWarning(`could not seal the log: ${e.message}`))
    )
    // Finalizers run last-added first: this one runs after the server below has stopped.
    yield* Effect.addFinalizer(() => seal)
    if (config?.metrics_addr !== undefined) yield* serveMetrics(config.metrics_addr)
    let nodeServer: ReturnType<typeof createServer> | undefined
    const server = yield* NodeHttpServer.make(() => {
      const srv = tls !== undefined
        ? createHttpsServer({ requestTimeout: 0, cert: tls.cert, key: tls.key })
        : createServer({ requestTimeout: 0 })
      // A connection that neither sends nor receives a byte for this long is closed: a stalled
      // client must not hold a transfer slot (and its buffers) forever. Closing interrupts its request.
      srv.setTimeout((config?.idle_timeout_secs ?? defaultIdleTimeoutSecs) * 1000)
      // Metrics watch the raw request and response, beside effect/http's own listeners.
      srv.on("request", observeRequest)
      srv.on("checkContinue", observeRequest)
      // An unusual Expect header is answered like any request (Node would reply 417 itself).
      srv.on("checkExpectation", (req, res) => srv.emit("request", req, res))
      nodeServer = srv
      return srv
    }, { host: address.host, port: address.port }).pipe(
      Effect.mapError((e) => new UserError({ detail: `cannot listen on ${listen}: ${listenFailure(e)}` }))
    )
    yield* server.serve(handleRequest({ credentials, region, virtualHosts }))
    // On shutdown, first cut every connection: requests in flight are interrupted (their objects
    // were never appended) instead of being waited for.
    yield* Effect.addFinalizer(() => Effect.sync(() => nodeServer?.closeAllConnections()))
    const port = server.address._tag === "UnixPathAddress" ? address.port : server.address.port
    const scheme = tls !== undefined ? "https" : "http"
    process.stderr.write(
      `enigma proxy: listening on ${scheme}://${address.host}:${port} (S3, region ${region}, ${credentials.size} access key${credentials.size === 1 ? "" : "s"})` +
        (config?.metrics_addr !== undefined ? `; metrics on http://${config.metrics_addr}/metrics` : "") + "\n"
    )
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(sealEvery), seal)))
    return yield* Effect.never
  })).pipe(Effect.provide(Multipart.layer.pipe(Layer.provideMerge(Objects.layer), Layer.provideMerge(Transfers.layer)))))
})
