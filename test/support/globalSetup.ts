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
  const remove = () => rmSync(root, { recursive: true, force: true })
  return () => {
    if (process.env.ENIGMA_KEEP_TEST_TMP === "1") return console.log(`test files kept in ${root}`)
    remove()
    // Something Azure-related still writes a small dir there while the run shuts down: once more at exit.
    process.once("exit", remove)
  }
}
