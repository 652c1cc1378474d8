import { ServerResponse } from "node:http"
import { Effect, Stream } from "effect"
import type { HttpServerRequest } from "effect/http/HttpServerRequest"
import { toServerResponse } from "@effect/platform-node/NodeHttpServerRequest"
import { releaseBuffers } from "../ReleaseBuffers.ts"

/**
 * A GET's body, whose chunk buffers are freed once the response has written them, instead of when
 * V8 next collects them (see ReleaseBuffers).
 *
 * Why: a GET's plaintext chunks are external memory that only a full collection frees. During
 * 256 MiB GETs the main thread spent ~20% of its time collecting, and eight of them at once took
 * the proxy past 700 MB of RSS.
 *
 * When it is safe: the response has nothing buffered or being written (`writableLength` 0: Node
 * counts a write until libuv is done with its bytes), or it has finished or closed. The body is
 * re-chunked to one buffer per pull, so the server adapter has handed every earlier buffer to
 * `write` (and waited for `drain` when that said to) before it pulls the next: the buffers found
 * written at a pull are the ones pulled before it.
 *
 * Every element must be a view of a buffer the stream owns outright (a chunk `load` returned).
 * Without a Node response to watch (another server adapter), the body is left as it is.
 */
export const releaseWhenWritten = <E, R>(res: ServerResponse | undefined, body: Stream.Stream<Uint8Array, E, R>): Stream.Stream<Uint8Array, E, R> => {
  if (res === undefined) return body
  return Stream.suspend(() => {
    let handedOut: Array<Uint8Array> = []
    const releaseAll = () => {
      releaseBuffers(handedOut)
      handedOut = []
    }
    const releaseIfWritten = () => {
      if (handedOut.length > 0 && res.writableLength === 0) releaseAll()
    }
    res.on("drain", releaseIfWritten)
    // After either, nothing of this response is being written any more.
    res.once("finish", releaseAll)
    res.once("close", () => {
      releaseAll()
      res.off("drain", releaseIfWritten)
    })
    return body.pipe(
      Stream.rechunk(1),
      Stream.tap((b) =>
        Effect.sync(() => {
          releaseIfWritten()
          handedOut.push(b)
        })
      )
    )
  })
}

/** The Node response of a request the Node server adapter received (HTTP/1.1); undefined otherwise. */
export const nodeResponse = (req: HttpServerRequest): ServerResponse | undefined => {
  try {
    const res = toServerResponse(req)
    return res instanceof ServerResponse ? res : undefined
  } catch {
    return undefined
  }
}
