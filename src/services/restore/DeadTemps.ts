import * as fs from "node:fs/promises"
import * as path from "node:path"
import { pidAlive } from "../Lock.ts"

/**
 * A restore's temp name (Restore.ts `tmpNameFor`): `.NAME.enigma-<pid in base 36><6 hex>-<n>`.
 * The six hex digits are random, so the pid is what comes before them.
 */
const restoreTemp = /^\..+\.enigma-([0-9a-z]+?)[0-9a-f]{6}-\d+$/

/**
 * Removes from `dir` the temp files of restores whose process is gone (a kill -9, a power cut:
 * Ctrl-C removes its own), so that running the restore again leaves none behind. Those of a
 * restore still running are left alone. Returns how many were removed.
 */
export const removeDeadRestoreTemps = async (dir: string): Promise<number> => {
  let removed = 0
  const names = await fs.readdir(dir).catch(() => [] as Array<string>)
  for (const name of names) {
    const m = restoreTemp.exec(name)
    if (m === null) continue
    const pid = Number.parseInt(m[1]!, 36)
    if (pid === process.pid || pidAlive(pid)) continue
    const st = await fs.lstat(path.join(dir, name)).catch(() => undefined)
    if (st?.isFile() !== true) continue
    await fs.rm(path.join(dir, name), { force: true })
    removed++
  }
  return removed
}
