import * as fs from "node:fs"
import * as path from "node:path"
import type { EnigmaSettings } from "../domain/Settings.ts"

/** One of the repository's own files or directories, and what it is (for messages). */
export interface OwnFile {
  readonly path: string
  readonly what: string
  /**
   * Whether a backup stores it like any file: the config and the keyfiles do (small, and what a
   * user restoring a home directory expects to find); the storage and the database do not.
   */
  readonly backedUp: boolean
}

/**
 * The repository's own files: its config, the keyfile (and a separate ML-KEM key), the manifest
 * database with SQLite's -wal, -shm and -journal, and its Local providers' directories. Not the
 * config dir as a whole: that may be /etc or a home directory (`--config /etc/enigma.toml`).
 *
 * Why: `init` puts them all in ~/.enigma, so `enigma backup ~` and `enigma restore latest /home`
 * meet them. A backup that stored them again (encrypted, so nothing deduplicated) doubled the
 * repository with every run, and read a database being written; a restore in place would write an
 * old database or keyfile over the live one (then `gc` deletes the chunks of every later backup),
 * and `--delete` would remove the storage a backup left out. borg leaves its repository and cache
 * out of its backups for the same reason.
 */
export const repositoryOwnFiles = (repo: { readonly configFile: string; readonly settings: EnigmaSettings }): Array<OwnFile> => {
  const { settings } = repo
  const db = settings.enigma.db_path
  return [
    { path: repo.configFile, what: "config", backedUp: true },
    { path: settings.enigma.keyfile_path, what: "keyfile", backedUp: true },
    ...(settings.enigma.kem_key_path !== undefined ? [{ path: settings.enigma.kem_key_path, what: "ML-KEM key file", backedUp: true }] : []),
    ...["", "-wal", "-shm", "-journal"].map((suffix) => ({ path: `${db}${suffix}`, what: "manifest database", backedUp: false })),
    ...settings.providers.flatMap((p) => p.type === "Local" ? [{ path: p.bucket, what: `Local provider ${p.name}'s storage`, backedUp: false }] : [])
  ]
}

/**
 * The files a backup leaves out (`backedUp: false`) that exist now, recognised by device and
 * inode (through symlinks and bind mounts too, as borg recognises the repository it skips):
 * `whatIs` says what one is, or undefined for any other entry. Asked of every entry a backup
 * walks, so it looks the inode up first and makes nothing.
 */
export interface LeftOut {
  readonly whatIs: (st: { readonly dev: number; readonly ino: number }) => string | undefined
}

export const leftOutOfBackups = (own: ReadonlyArray<OwnFile>): LeftOut => {
  const byInode = new Map<number, Array<{ readonly dev: number; readonly what: string }>>()
  for (const f of own) {
    if (f.backedUp) continue
    try {
      const st = fs.statSync(f.path)
      byInode.set(st.ino, [...(byInode.get(st.ino) ?? []), { dev: st.dev, what: `${f.what} ${f.path}` }])
    } catch {
      // Not there (no -wal between runs, a provider not made yet): nothing to leave out.
    }
  }
  return { whatIs: (st) => byInode.get(st.ino)?.find((e) => e.dev === st.dev)?.what }
}

/** Where `p` really is: the real path of its nearest existing ancestor, with the rest appended. */
const realPathOf = (p: string): string => {
  const rest: Array<string> = []
  for (let at = path.resolve(p); ; at = path.dirname(at)) {
    try {
      return path.join(fs.realpathSync(at), ...rest.reverse())
    } catch {
      if (path.dirname(at) === at) return path.resolve(p)
      rest.push(path.basename(at))
    }
  }
}

/** An own file that exists now, with its real path. */
export interface PresentOwnFile extends OwnFile {
  readonly real: string
}

/** Those of `own` that exist, each resolved once (a restore asks two questions of them). */
export const presentOwnFiles = (own: ReadonlyArray<OwnFile>): Array<PresentOwnFile> =>
  own.flatMap((f) => {
    try {
      return [{ ...f, real: fs.realpathSync(f.path) }]
    } catch {
      return []
    }
  })

/** The one of `own` that `p` (a restore's destination, made or not) is, or lies inside. */
export const ownFileHolding = (own: ReadonlyArray<PresentOwnFile>, p: string): PresentOwnFile | undefined => {
  const real = realPathOf(p)
  return own.find((f) => real === f.real || real.startsWith(`${f.real}/`))
}

/**
 * Those of `own` that lie below directory `root` (a real path), as paths relative to it with `/`
 * between names: what a restore into `root` must neither write over nor remove.
 */
export const ownFilesBelow = (own: ReadonlyArray<PresentOwnFile>, root: string): Array<{ readonly rel: string; readonly what: string }> =>
  own.flatMap((f) => {
    const rel = path.relative(root, f.real)
    return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel) ? [{ rel: rel.split(path.sep).join("/"), what: f.what }] : []
  })

/**
 * Questions a restore asks of the repository's own files below its destination (`ownFilesBelow`),
 * by stored path (`alice/.enigma/enigma.db`): whether an entry is one of them or inside one (not
 * written), and whether a directory is or holds one (not removed). `coverOf` names the own file
 * that answers, for the warning.
 */
export const ownFilesGuard = (below: ReadonlyArray<{ readonly rel: string; readonly what: string }>) => ({
  any: below.length > 0,
  /** The own file or directory `p` is, or is inside. */
  coverOf: (p: string) => below.find((o) => o.rel === p || p.startsWith(`${o.rel}/`)),
  /** Whether `p` is an own file or a directory that holds one. */
  holds: (p: string) => below.some((o) => o.rel === p || o.rel.startsWith(`${p}/`))
})
export type OwnFilesGuard = ReturnType<typeof ownFilesGuard>
