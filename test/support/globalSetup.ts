import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"

/**
 * One temp dir per test run, removed when the run ends: every repository, server data dir and
 * CLI scratch dir the tests make goes under it (through TMPDIR, which the workers and the
 * processes they spawn inherit). Without it each run left ~200 dirs in /tmp, some of hundreds of
 * MB. ENIGMA_KEEP_TEST_TMP=1 keeps it for a look after a failure.
 */
export default function setup() {
  const root = mkdtempSync(path.join(tmpdir(), "enigma-tests-"))
  process.env.TMPDIR = root
  // Best effort: cleaning up must never fail the run (something may still be writing there).
  const remove = () => {
    try {
      rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
    } catch {
      // left for the system's tmp cleaner
    }
  }
  return () => {
    if (process.env.ENIGMA_KEEP_TEST_TMP === "1") return console.log(`test files kept in ${root}`)
    remove()
  }
}
