import { assert, describe, it } from "@effect/vitest"
import { dataRuns, sparseBlock } from "../../src/domain/SparseRuns.ts"

const B = sparseBlock

describe("SparseRuns: what a sparse write leaves out", () => {
  it("whole blocks of zeros, aligned in the file, are left out; runs of data are merged", () => {
    const bytes = Buffer.alloc(4 * B)
    bytes[0] = 1
    bytes[B + 5] = 1
    bytes[3 * B + 7] = 1
    assert.deepStrictEqual(dataRuns(bytes, 0), [[0, 2 * B], [3 * B, 4 * B]])
    assert.deepStrictEqual(dataRuns(Buffer.alloc(3 * B), 0), [])
  })

  it("blocks are aligned to the file, not to the write: a cut block is written only if it holds data", () => {
    const bytes = Buffer.alloc(2 * B)
    bytes[B - 100 + 10] = 1 // in the block that starts 100 bytes into this write (position B - 100)
    assert.deepStrictEqual(dataRuns(bytes, B - 100), [[100, 100 + B]])
    const head = Buffer.alloc(50)
    head[49] = 7
    assert.deepStrictEqual(dataRuns(head, 10), [[0, 50]])
    assert.deepStrictEqual(dataRuns(Buffer.alloc(50), 10), [])
  })
})
