import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { cdcParams, cdcSearch, chunkLengths, gearFromSeed, makeChunker } from "../../src/domain/Chunker.ts"
import { cutOffThread } from "../../src/services/CutOffThread.ts"
import { SourceBlocks } from "../../src/services/SourceBlocks.ts"
import { idKeysOfBothHashes, referenceId } from "../support/referenceIds.ts"

const MiB = 1024 * 1024
const gear = gearFromSeed(randomBytes(1024))
const strategy = { _tag: "Cdc", targetSize: 256 * 1024 } as const
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex")

describe("CutOffThread", () => {
  it("blocks cut on the worker give the chunks the chunker gives on this thread", async () => {
    const data = randomBytes(9 * MiB + 12345)
    const expected = chunkLengths(strategy, gear, data)
    const cutter = cutOffThread(cdcSearch(cdcParams(strategy.targetSize), gear))
    const sources = new SourceBlocks(makeChunker(strategy, gear))
    const got: Array<string> = []
    try {
      // Sent ahead of their answers, in blocks of odd sizes, each a buffer of its own as the backup's are.
      const away = []
      for (let at = 0, k = 0; at < data.length; k++) {
        const n = Math.min(data.length - at, [MiB, 1, 3 * MiB + 7, 4096][k % 4]!)
        const block = new Uint8Array(new ArrayBuffer(n))
        block.set(data.subarray(at, at + n))
        at += n
        away.push(cutter.cut(block.buffer, n))
      }
      for (const answer of away) {
        for (const c of sources.pushCut(await answer)) got.push(sha(c))
      }
      for (const c of sources.finish()) got.push(sha(c))
    } finally {
      cutter.close()
    }
    const want: Array<string> = []
    let at = 0
    for (const n of expected) {
      want.push(sha(data.subarray(at, at + n)))
      at += n
    }
    assert.deepStrictEqual(got, want)
  })

  for (const key of idKeysOfBothHashes(randomBytes)) it(`with an id key (${key.hash}), each chunk a cut ends comes back with its id`, async () => {
    const idOf = (b: Uint8Array) => referenceId(key, b)
    const data = randomBytes(7 * MiB + 4321)
    const expected = chunkLengths(strategy, gear, data)
    const cutter = cutOffThread(cdcSearch(cdcParams(strategy.targetSize), gear), key)
    const plain = cutOffThread(cdcSearch(cdcParams(strategy.targetSize), gear))
    const sources = new SourceBlocks(makeChunker(strategy, gear))
    const got: Array<[string, string]> = []
    try {
      const away = []
      for (let at = 0, k = 0; at < data.length; k++) {
        // Odd sizes again: chunks span blocks, and a block may end none.
        const n = Math.min(data.length - at, [MiB + 3, 5, 2 * MiB, 70_000][k % 4]!)
        const block = new Uint8Array(new ArrayBuffer(n))
        block.set(data.subarray(at, at + n))
        at += n
        away.push(cutter.cut(block.buffer, n))
      }
      for (const answer of away) {
        const cut = await answer
        const chunks = sources.pushCut(cut)
        assert.strictEqual(cut.ids?.length, chunks.length)
        chunks.forEach((c, i) => got.push([cut.ids![i]!, idOf(c)]))
      }
      // The last chunk ends at no cut: the caller hashes it.
      assert.lengthOf(sources.finish(), 1)
      // Without a key, no ids.
      const one = new Uint8Array(new ArrayBuffer(MiB))
      assert.isUndefined((await plain.cut(one.buffer, MiB)).ids)
    } finally {
      cutter.close()
      plain.close()
    }
    assert.strictEqual(got.length, expected.length - 1)
    for (const [fromWorker, here] of got) assert.strictEqual(fromWorker, here)
  })

  it("streams cut at the same time keep their own searches", async () => {
    const a = randomBytes(3 * MiB + 1)
    const b = randomBytes(2 * MiB + 9)
    const cutBoth = async () => {
      const streams = [a, b].map((data) => ({ data, cutter: cutOffThread(cdcSearch(cdcParams(strategy.targetSize), gear)), sources: new SourceBlocks(makeChunker(strategy, gear)), lengths: [] as Array<number> }))
      // Blocks of the two streams interleaved on the one worker.
      for (let at = 0; at < 4 * MiB; at += 300_000) {
        for (const s of streams) {
          if (at >= s.data.length) continue
          const n = Math.min(300_000, s.data.length - at)
          const block = new Uint8Array(new ArrayBuffer(n))
          block.set(s.data.subarray(at, at + n))
          for (const c of s.sources.pushCut(await s.cutter.cut(block.buffer, n))) s.lengths.push(c.length)
        }
      }
      for (const s of streams) {
        for (const c of s.sources.finish()) s.lengths.push(c.length)
        s.cutter.close()
      }
      return streams.map((s) => s.lengths)
    }
    assert.deepStrictEqual(await cutBoth(), [chunkLengths(strategy, gear, a), chunkLengths(strategy, gear, b)])
  })

  it("a sent block is detached until it comes back whole", async () => {
    const cutter = cutOffThread(cdcSearch(cdcParams(strategy.targetSize), gear))
    try {
      const block = randomBytes(2 * MiB)
      const copy = Buffer.from(block)
      const buffer = block.buffer.slice(block.byteOffset, block.byteOffset + block.length)
      const answer = cutter.cut(buffer, buffer.byteLength)
      assert.isTrue(buffer.detached)
      const back = await answer
      assert.isTrue(Buffer.from(back.block).equals(copy))
    } finally {
      cutter.close()
    }
  })

  it("blocks still away when it is closed fail instead of hanging", async () => {
    const cutter = cutOffThread(cdcSearch(cdcParams(strategy.targetSize), gear))
    const outcome = cutter.cut(new ArrayBuffer(8 * MiB), 8 * MiB).then(() => undefined, (err: Error) => err)
    cutter.close()
    const e = await outcome
    assert.match(String(e?.message), /stream was closed/)
    const after = await cutter.cut(new ArrayBuffer(10), 10).then(() => undefined, (err: Error) => err)
    assert.isDefined(after, "a closed cutter refuses further blocks")
  })

  it("does not keep a process alive once its blocks are back", () => {
    const chunker = pathToFileURL(path.resolve(import.meta.dirname, "../../src/domain/Chunker.ts")).href
    const module = pathToFileURL(path.resolve(import.meta.dirname, "../../src/services/CutOffThread.ts")).href
    const script = `
      import { cdcParams, cdcSearch } from ${JSON.stringify(chunker)}
      import { cutOffThread } from ${JSON.stringify(module)}
      const cutter = cutOffThread(cdcSearch(cdcParams(65536), new Uint32Array(256).fill(12345)))
      const back = await cutter.cut(new ArrayBuffer(1 << 20), 1 << 20)
      console.log(back.block.length)
    `
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000 })
    assert.strictEqual(r.signal, null, "still running after 20 s: the worker keeps the process alive")
    assert.strictEqual(r.status, 0, r.stderr)
    assert.strictEqual(r.stdout.trim(), String(MiB))
  })
})
