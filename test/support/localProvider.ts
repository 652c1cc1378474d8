import { Effect } from "effect"
import { mkdirSync } from "node:fs"
import { ChunkStore } from "../../src/services/ChunkStore.ts"
import { Manifest } from "../../src/services/manifest/Manifest.ts"
import { withFaults } from "../../src/services/storage/FaultInjection.ts"
import { makeLocalProvider } from "../../src/services/storage/LocalProvider.ts"

/**
 * A Local provider on `root`, made first as `init` makes it (StorageProvider.create): the provider
 * itself never makes its root, so that a disk that is not mounted is an error, not a new directory.
 */
export const newLocalProvider = (name: string, root: string) => {
  mkdirSync(root, { recursive: true })
  return makeLocalProvider(name, root)
}

/**
 * A Local provider on `root` behind the fault-injection decorator (withFaults, a fake): every call
 * of `operation` fails as a refused connection would (Transient, so retried), and `attempts`
 * counts the calls per key.
 */
export const failingLocalProvider = (name: string, root: string, operation: "put" | "get") => {
  const attempts = new Map<string, number>()
  const provider = withFaults(newLocalProvider(name, root), {
    failRate: 1,
    operations: [operation],
    onCall: (_, key) => attempts.set(key, (attempts.get(key) ?? 0) + 1)
  })
  return { provider, attempts }
}

/** Where each chunk of a backup is stored (its providers), in the repository `layer` opens. */
export const placementsOf = (backupId: string) =>
  Effect.gen(function*() {
    const ids = yield* Manifest.use((m) => m.chunksOf(backupId))
    const store = yield* ChunkStore
    return ids.map((id) => store.row(id)?.placement)
  })
