import { Effect } from "effect"
import { setFlagsFromString } from "node:v8"
import type { StorageProvider } from "../services/storage/StorageProvider.ts"

/**
 * The flag is V8-internal: a V8 without it prints "Error: unrecognized flag" on stderr. It is set
 * only under the Node major this was measured on (the one `npm ci` installs); elsewhere V8's
 * default accounting holds, slower but the same results.
 */
const measuredNodeMajor = "24"

/**
 * For the commands whose chunk-sized buffers are all freed by their owners as they finish
 * (`backup`, `restore`, `put`: src/services/ReleaseBuffers.ts), on a repository whose providers
 * are all Local: V8 stops starting full collections because those buffers come and go.
 *
 * Why: V8 adds the external memory allocated since its last full collection to the old
 * generation when it checks the old generation's limit (64 MiB here, --initial-old-space-size).
 * The buffers in flight rise and fall between ~20 and ~70 MB as chunks pass, so a rise after a
 * collection that found few of them counted as ~50 MB of growth and started the next one: a 1 GiB
 * `put` ran ~22 full collections, each marking the whole ~15 MB heap on both cores, and freed
 * nothing (the buffers were already freed). With the flag V8 counts external memory against its
 * global limit instead: no full collection during that put; 3.11–3.28 s instead of 3.38–3.49 s
 * (alternating runs), 0.6 s less CPU, peak RSS the same. bench:pipe: put → Local 379–381 MB/s
 * where it measured 289–346; bench:backup: a first backup of 1 GiB of random data 1.17–1.38 s
 * (was 1.54), its restore 1.60–1.74 s (was 2.21), peak RSS ≤ 264 MB.
 *
 * Not where something else makes garbage that only a collection frees: `get` and the gateway hold
 * buffers they do not own (an S3 response's pieces), and `get` from s3rver peaked at 284–292 MB
 * with the flag against ~240 MB without; a cloud provider's SDK leaves its own (a `put` to s3rver
 * crept up to 245–257 MB against 240–246 MB, over the 256 MB target).
 *
 * Not in the launcher's shebang: the Node 20 a shell may find first (the launcher hands over to
 * Node 24) refuses a V8 flag it does not know, before any of our code runs. Set at run time, it
 * takes effect at V8's next limit check; `gc` exposure (GarbagePacer.ts) is set the same way.
 */
export const collectOwnedBuffersOnly = (providers: ReadonlyArray<StorageProvider>) => Effect.sync(() => {
  // Setting it again (a second command in one process) changes nothing.
  if (!providers.every((p) => p.kind === "Local") || process.versions.node.split(".")[0] !== measuredNodeMajor) return
  try {
    setFlagsFromString("--external-memory-accounted-in-global-limit")
  } catch {
    // Not Node's V8 after all: the default accounting holds.
  }
})
