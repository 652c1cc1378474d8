import { Worker } from "node:worker_threads"

/**
 * A worker thread running `source`, eval'd so the bundle needs no separate worker file. Eval'd
 * code is a script, or a module when the process runs with --input-type=module (workers inherit
 * execArgv): sources use `process.getBuiltinModule`, which works in both, where `require` and
 * `import` each work in one.
 *
 * Our workers keep little JavaScript state (their data lives in transferred or shared buffers),
 * so their heaps are kept small: left to V8's defaults, each grew its young generation as the main
 * thread's does, ~7 MB of RSS per worker here.
 */
export const startWorker = (source: string): Worker =>
  new Worker(source, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 2 } })

/**
 * A worker shared by requests that come and go. It starts unref'd: its owner refs it while it has
 * work out and unrefs it when none is left, so it never keeps a finished process alive. `onLost`
 * is told once if the worker fails or exits; the owner then fails the work it had out.
 */
export const startSharedWorker = <M>(source: string, onMessage: (message: M) => void, onLost: (e: Error) => void): Worker => {
  const worker = startWorker(source)
  let gone = false
  const lost = (e: Error) => {
    if (gone) return
    gone = true
    onLost(e)
  }
  worker.on("message", onMessage)
  worker.on("error", lost)
  worker.on("exit", (code) => lost(new Error(`exit code ${code}`)))
  // After the listeners: adding a "message" listener refs the worker's port again.
  worker.unref()
  return worker
}
