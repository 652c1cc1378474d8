import { mkdirSync } from "node:fs"
import { makeLocalProvider } from "../../src/services/storage/LocalProvider.ts"

/**
 * A Local provider on `root`, made first as `init` makes it (StorageProvider.create): the provider
 * itself never makes its root, so that a disk that is not mounted is an error, not a new directory.
 */
export const newLocalProvider = (name: string, root: string) => {
  mkdirSync(root, { recursive: true })
  return makeLocalProvider(name, root)
}
