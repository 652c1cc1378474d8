import * as fs from "node:fs"
import type { EnigmaSettings } from "../../domain/Settings.ts"
import { ownEntryKey } from "./Walker.ts"

/**
 * The repository's own files, which a backup leaves out wherever it meets them: the directories
 * of its Local providers and the manifest database (with SQLite's -wal, -shm and -journal).
 *
 * Why: `init` puts both in ~/.enigma, so `enigma backup ~`, the most natural first command, met
 * them. Each run stored the repository's chunks again (encrypted, so nothing deduplicated: the
 * repository doubled with every backup) and a database being written as it was read. borg leaves
 * its repository and cache out for the same reason. The config file and keyfile stay in: small,
 * and what a user restoring the rest of a home directory expects to find.
 *
 * Keyed by device and inode (Walker's `ownEntryKey`), so a path reached through a symlink or a bind
 * mount is recognised too. The value says what the entry is, for the error when it is named itself.
 */
export const repositoryOwnEntries = (settings: EnigmaSettings): Map<string, string> => {
  const own = new Map<string, string>()
  const add = (file: string, what: string) => {
    try {
      own.set(ownEntryKey(fs.statSync(file)), what)
    } catch {
      // Not there (no -wal between runs, a provider not made yet): nothing to leave out.
    }
  }
  for (const suffix of ["", "-wal", "-shm", "-journal"]) add(`${settings.enigma.db_path}${suffix}`, `manifest database ${settings.enigma.db_path}${suffix}`)
  for (const p of settings.providers) if (p.type === "Local") add(p.bucket, `Local provider ${p.name}'s storage ${p.bucket}`)
  return own
}
