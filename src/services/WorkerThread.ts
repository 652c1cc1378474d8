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
