import { assert, describe, it } from "@effect/vitest"
import { randomBytes } from "node:crypto"
import { readdirSync, readFileSync } from "node:fs"
import * as path from "node:path"
import { putOffThread, stagingBuffersCreated } from "../../../src/services/storage/LocalIoThreads.ts"
import { tempDir } from "../../support/cli.ts"
import { cutIntoParts } from "../../support/parts.ts"

const MiB = 1024 * 1024

// A file of its own: the staging buffers are per process (per module instance), and this test
// needs a count that starts at 0.
describe("LocalIoThreads: the staging-buffer limit a write asks for", () => {
  it("writes many multi-MiB bodies at once through 2 staging buffers, creating no more", async () => {
    const dir = tempDir()
    const bodies = Array.from({ length: 6 }, (_, i) => randomBytes(3 * MiB + i * 1001))
    await Promise.all(bodies.map((b, i) =>
      putOffThread({ tmp: path.join(dir, `b${i}.tmp-x`), target: path.join(dir, `b${i}`), dir, root: dir, parts: cutIntoParts(b), direct: i % 2 === 0, stagings: 2 })
    ))
    assert.strictEqual(stagingBuffersCreated(), 2)
    bodies.forEach((b, i) => assert.isTrue(readFileSync(path.join(dir, `b${i}`)).equals(b), `body ${i}`))
    assert.deepStrictEqual(readdirSync(dir).filter((f) => f.includes(".tmp-")), [])

    // A later write that asks for more may create more.
    const big = randomBytes(5 * MiB)
    await putOffThread({ tmp: path.join(dir, "big.tmp-x"), target: path.join(dir, "big"), dir, root: dir, parts: [big], direct: true, stagings: 4 })
    assert.strictEqual(stagingBuffersCreated(), 4)
    assert.isTrue(readFileSync(path.join(dir, "big")).equals(big))
  })
})
