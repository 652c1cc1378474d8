/**
 * Chunker throughput: 256 MiB of pseudo-random data, pushed in 1 MiB blocks, best of 3 runs.
 *
 *   node bench/chunker.ts
 */
import { randomFillSync } from "node:crypto"
import { performance } from "node:perf_hooks"
import { gearFromSeed, makeChunker } from "../src/domain/Chunker.ts"
import type { ChunkStrategy } from "../src/domain/Chunker.ts"

const MiB = 1024 * 1024
const totalSize = 256 * MiB
const blockSize = 1 * MiB
const runs = 3

const data = randomFillSync(Buffer.allocUnsafe(totalSize))
const gear = gearFromSeed(randomFillSync(new Uint8Array(1024)))
// Plain Uint8Array views (not Buffer), as the product pushes.
const blocks: Array<Uint8Array> = []
for (let o = 0; o < totalSize; o += blockSize) {
  blocks.push(new Uint8Array(data.buffer, data.byteOffset + o, Math.min(blockSize, totalSize - o)))
}

const bench = (label: string, strategy: ChunkStrategy): void => {
  let best = Infinity
  let chunks = 0
  let bytes = 0
  for (let r = 0; r < runs; r++) {
    const chunker = makeChunker(strategy, gear)
    const t0 = performance.now()
    chunks = 0
    bytes = 0
    for (const block of blocks) {
      for (const c of chunker.push(block)) {
        chunks++
        bytes += c.length
      }
    }
    for (const c of chunker.finish()) {
      chunks++
      bytes += c.length
    }
    const ms = performance.now() - t0
    if (bytes !== totalSize) throw new Error(`${label}: chunks cover ${bytes} bytes, expected ${totalSize}`)
    if (ms < best) best = ms
  }
  const mbPerS = totalSize / 1e6 / (best / 1000)
  const mean = Math.round(totalSize / chunks)
  console.log(`${label}: ${mbPerS.toFixed(0)} MB/s, ${chunks} chunks, mean ${mean}`)
}

bench("cdc 4MiB", { _tag: "Cdc", targetSize: 4 * MiB })
bench("cdc 16KiB", { _tag: "Cdc", targetSize: 16 * 1024 })
bench("fixed 4MiB", { _tag: "Fixed", size: 4 * MiB })
