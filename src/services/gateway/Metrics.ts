import type { IncomingMessage, ServerResponse } from "node:http"
import { Effect, Metric } from "effect"

/**
 * The gateway's Prometheus metrics (served at `metrics_addr`/metrics by the proxy). Updated from
 * the Node server's own request/response events (beside effect/http's listeners on the same
 * server), so Http.ts stays free of bookkeeping: one observer per
 * request records its method, status class, duration and bytes when the response finishes or
 * the connection closes.
 */
const requests = Metric.counter("enigma_gateway_requests_total", {
  description: "S3 requests answered, by method and status",
  incremental: true
})
const duration = Metric.histogram("enigma_gateway_request_duration_seconds", {
  description: "Time from request start to the last response byte",
  boundaries: Metric.exponentialBoundaries({ start: 0.001, factor: 2, count: 16 })
})
const received = Metric.counter("enigma_gateway_received_bytes_total", { description: "Request body bytes (as declared by Content-Length)", incremental: true })
const sent = Metric.counter("enigma_gateway_sent_bytes_total", { description: "Response bytes written to the socket (headers included)", incremental: true })
const inFlight = Metric.gauge("enigma_gateway_requests_in_flight", { description: "Requests being served" })

let active = 0

const record = (effect: Effect.Effect<void>) => Effect.runSync(effect)

/** Call once per request, before handling it. */
export const observeRequest = (req: IncomingMessage, res: ServerResponse) => {
  const started = performance.now()
  // Held here: Node detaches the socket from the request (req.socket = null) once a response
  // with Connection: close has finished, which is how a request whose body failed ends.
  const socket = req.socket
  const writtenAtStart = socket.bytesWritten
  active++
  record(Metric.update(inFlight, active))
  let done = false
  const finish = () => {
    if (done) return
    done = true
    active--
    const status = res.headersSent ? `${Math.floor(res.statusCode / 100)}xx` : "aborted"
    const attributes = { method: req.method ?? "?", status }
    record(Effect.all([
      Metric.update(Metric.withAttributes(requests, attributes), 1),
      Metric.update(Metric.withAttributes(duration, attributes), (performance.now() - started) / 1000),
      // The socket's bytesRead stays 0 under TLS, so the request side counts the declared length.
      Metric.update(received, Number(req.headers["content-length"] ?? 0) || 0),
      // Keep-alive sockets carry several requests: count this one's share.
      Metric.update(sent, Math.max(0, socket.bytesWritten - writtenAtStart)),
      Metric.update(inFlight, active)
    ], { discard: true }))
  }
  res.once("finish", finish)
  res.once("close", finish)
}
