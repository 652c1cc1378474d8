import { Schema } from "effect"

/**
 * Errors the user sees. Each carries what the user needs to act on; the CLI maps
 * them to one line on stderr and to restic-compatible exit codes (see `exitCodeOf`).
 */

/** No repository at the config dir (or its config/db is missing). Exit 10. */
export class RepositoryNotFound extends Schema.TaggedError<RepositoryNotFound>()("RepositoryNotFound", {
  path: Schema.String,
  hint: Schema.String
}) {
  override get message() {
    return `no repository at ${this.path}: ${this.hint}`
  }
}

/** The repository is locked by another writer. Exit 11. */
export class LockFailed extends Schema.TaggedError<LockFailed>()("LockFailed", {
  holder: Schema.String
}) {
  override get message() {
    return `repository is locked by ${this.holder}; if that process is gone, run \`enigma unlock\``
  }
}

/** The passphrase (or, in split mode, the ML-KEM key file) does not open the keystore. Exit 12. */
export class WrongPassphrase extends Schema.TaggedError<WrongPassphrase>()("WrongPassphrase", {
  keyfile: Schema.String,
  /** `keyfile` names a config's `enc:` token, not a keystore. */
  credential: Schema.optionalKey(Schema.Boolean)
}) {
  override get message() {
    return this.credential === true
      ? `the enc: token at ${this.keyfile} does not open with this passphrase: it was sealed under another one ` +
        "(a passphrase since changed, or another of the repository's); make a new token with `enigma encrypt-cred`"
      : `wrong passphrase for keystore ${this.keyfile}`
  }
}

/** A raw `--key` that is not the key the repository was created with. Exit 12. */
export class WrongKey extends Schema.TaggedError<WrongKey>()("WrongKey", {
  repository: Schema.String
}) {
  override get message() {
    return `the key does not open the repository at ${this.repository} (it was created with another key)`
  }
}

/** A config file that is missing, unparsable or has a bad field. Exit 1. */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  file: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `config ${this.file}: ${this.detail}`
  }
}

/** A keystore/keyfile that is missing or damaged (not a passphrase problem). Exit 1. */
export class KeystoreError extends Schema.TaggedError<KeystoreError>()("KeystoreError", {
  file: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `keystore ${this.file}: ${this.detail}`
  }
}

/** A chunk whose bytes are missing or fail authentication / re-hashing. */
export class ChunkCorrupt extends Schema.TaggedError<ChunkCorrupt>()("ChunkCorrupt", {
  chunkId: Schema.String,
  provider: Schema.String,
  detail: Schema.String,
  /**
   * Set when no copy could be read at all (the provider refused or did not answer, or the copy is
   * in cold storage), as against a copy that is missing or whose bytes are damaged: a restore
   * stops for the first, and goes on past the files of the second.
   */
  unreadable: Schema.optionalKey(Schema.Boolean)
}) {
  override get message() {
    return `chunk ${this.chunkId} on provider ${this.provider}: ${this.detail}`
  }
}

/** One file a restore could not write: a chunk holding its bytes is missing or damaged. */
export const DamagedFile = Schema.Struct({ path: Schema.String, chunk: Schema.String, problem: Schema.String })
export type DamagedFile = typeof DamagedFile.Type

/**
 * A restore that wrote every file it could, but not those whose bytes lie in missing or damaged
 * chunks (none of them is left half written). Exit 1.
 */
export class RestoreIncomplete extends Schema.TaggedError<RestoreIncomplete>()("RestoreIncomplete", {
  backupId: Schema.String,
  restoredFiles: Schema.Number,
  damaged: Schema.Array(DamagedFile)
}) {
  override get message() {
    const chunks = new Set(this.damaged.map((d) => d.chunk)).size
    return `${this.damaged.length} file(s) could not be restored: their bytes are in ${chunks} missing or damaged chunk(s); ` +
      `the other ${this.restoredFiles} file(s) were restored. \`enigma verify ${this.backupId.slice(0, 8)} --read-data\` checks the whole backup`
  }
}

/** Something the user asked for does not exist (backup id, path…). Exit 1. */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  what: Schema.String,
  hint: Schema.String
}) {
  override get message() {
    return `${this.what} not found${this.hint ? `: ${this.hint}` : ""}`
  }
}

/**
 * What to do when this machine's keyfile is behind the providers' keystore: another machine (a
 * config dir made by `recover`) added a data key or changed the passphrases. `recover` writes a
 * missing keyfile again from the providers and keeps the manifest.
 */
export const keystoreChangedElsewhere = (keyfile: string) =>
  `the keystore on the providers differs from keyfile ${keyfile} (another machine changed keys or passphrases): move ${keyfile} aside and run \`enigma recover\` to take the providers' keystore, then run this again`

/** A bad argument or state that the user can fix. Exit 1. */
export class UserError extends Schema.TaggedError<UserError>()("UserError", {
  detail: Schema.String
}) {
  override get message() {
    return this.detail
  }
}
