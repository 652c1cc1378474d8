/**
 * How a failure of the manifest database reads: SQLite's own words, and for the failures a user
 * can act on (a full disk, permissions, a damaged file), the file and what to do. Used where the
 * database is opened (NodeSqliteClient) and where it is written (EventLog).
 */

/** node:sqlite's result code, on the error or on one it wraps (an effect/sql SqlError's cause). */
const sqliteCode = (e: unknown): number | undefined => {
  for (let c = e, depth = 0; typeof c === "object" && c !== null && depth < 4; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as { errcode?: unknown }).errcode
    if (typeof code === "number") return code
  }
  return undefined
}

/**
 * What a failure (to open or to write) of the manifest database says: SQLite's own words, and for the failures a
 * user can act on, where and what to do. A backup or put that stops this way was never committed:
 * its chunks are reclaimed by `enigma gc`.
 */
export const manifestFailure = (cause: unknown, dbPath: string): string => {
  const said = (cause as Error)?.message ?? String(cause)
  switch ((sqliteCode(cause) ?? -1) & 0xff) {
    case 13: // SQLITE_FULL
      return `${dbPath}: ${said}: free space on the disk that holds it (or move db_path in the config), then run the command again; nothing half-done was committed, and \`enigma gc\` reclaims what this attempt stored`
    case 8: // SQLITE_READONLY
    case 3: // SQLITE_PERM
      return `${dbPath}: ${said}: this user cannot write it; check its and its directory's permissions (or the read-only mount)`
    case 10: // SQLITE_IOERR
      return `${dbPath}: ${said}: the disk that holds it failed a read or write; check it (dmesg), then run the command again`
    case 14: // SQLITE_CANTOPEN: a read-only directory too, since SQLite makes -wal and -shm files beside it even to read
      return `${dbPath}: ${said}: its directory must exist and be writable by this user (SQLite keeps -wal and -shm files beside it, even to read)`
    case 11: // SQLITE_CORRUPT
    case 26: // SQLITE_NOTADB
      return `${dbPath}: ${said}: move it aside and run \`enigma recover\`, which rebuilds it from the providers`
    default:
      return `${dbPath}: ${said}`
  }
}
