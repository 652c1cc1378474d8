import { Config, Effect } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { dryRunFlag, jsonFlag, rootCommand } from "./commands/shared.ts"

/**
 * The command tree: names, flags, arguments and help. Handlers live in `handlers/` and are
 * imported on first use, so `enigma --help` and usage errors load none of the repository code
 * (the bundle is split at these imports).
 */
export const version = "0.1.0"

const handlers = {
  backup: () => import("./handlers/backup.ts"),
  restore: () => import("./handlers/restore.ts"),
  inspect: () => import("./handlers/inspect.ts"),
  keys: () => import("./handlers/keys.ts"),
  maintain: () => import("./handlers/maintain.ts"),
  init: () => import("./handlers/init.ts"),
  thaw: () => import("./handlers/thaw.ts"),
  pipe: () => import("./handlers/pipe.ts"),
  proxy: () => import("./handlers/proxy.ts")
}
const load = <M>(f: () => Promise<M>) => Effect.promise(f)

const ageIdentityFlag = (description: string) =>
  Flag.String("age-identity").pipe(Flag.withDescription(description), Flag.atLeast(0))

const initCommand = Command.make("init", {
  json: jsonFlag,
  kemKeyFile: Flag.String("kem-key-file").pipe(
    Flag.withDescription("Keep the ML-KEM decapsulation key in this separate file (split mode: opening needs it and the passphrase)"),
    Flag.optional
  ),
  argon2Memory: Flag.String("argon2-memory").pipe(
    Flag.withDescription("Argon2id memory for the passphrase, e.g. 256M (default 64M); memory × passes must reach 36M"),
    Flag.optional
  ),
  argon2Passes: Flag.Int("argon2-passes").pipe(Flag.withDescription("Argon2id passes over that memory (default 3)"), Flag.optional),
  argon2Lanes: Flag.Int("argon2-lanes").pipe(Flag.withDescription("Argon2id lanes, computed on as many threads (default 4)"), Flag.optional)
}, (a) => load(handlers.init).pipe(Effect.flatMap((m) => m.init(a)))).pipe(
  Command.withDescription("Create a repository: config, sealed keyfile, manifest database")
)

/** --exclude, --exclude-file, --iexclude and --iexclude-file (backup, rewrite; handlers/excludeFlags.ts reads them). */
const excludeFlags = (exclude: string, iexclude: string) => ({
  exclude: Flag.String("exclude").pipe(Flag.withDescription(exclude), Flag.atLeast(0)),
  excludeFile: Flag.String("exclude-file").pipe(Flag.withDescription("Read --exclude patterns from this file (- for stdin), one per line, # comments (repeatable)"), Flag.atLeast(0)),
  iexclude: Flag.String("iexclude").pipe(Flag.withDescription(iexclude), Flag.atLeast(0)),
  iexcludeFile: Flag.String("iexclude-file").pipe(Flag.withDescription("As --exclude-file, ignoring case (repeatable)"), Flag.atLeast(0))
})

const backupCommand = Command.make("backup", {
  paths: Argument.String("path").pipe(Argument.withDescription("Files or directories to back up"), Argument.variadic()),
  filesFrom: Flag.String("files-from").pipe(
    Flag.withDescription("Also back up the paths listed in this file (- for stdin), one per line, # comments (repeatable)"),
    Flag.atLeast(0)
  ),
  filesFromRaw: Flag.String("files-from-raw").pipe(
    Flag.withDescription("Also back up the paths in this file (- for stdin), separated by NUL bytes (find -print0) (repeatable)"),
    Flag.atLeast(0)
  ),
  ...excludeFlags(
    "Leave out what matches: a name at any depth (node_modules, *.log), or a path with / (repeatable)",
    "As --exclude, ignoring case: *.jpg leaves out IMG.JPG too (repeatable)"
  ),
  excludeIfPresent: Flag.String("exclude-if-present").pipe(
    Flag.withDescription("Leave out the rest of a directory that holds this file, NAME or NAME:what-it-starts-with (repeatable)"),
    Flag.atLeast(0)
  ),
  excludeLargerThan: Flag.String("exclude-larger-than").pipe(Flag.withDescription("Leave out files larger than this, e.g. 2G (files named as paths are kept)"), Flag.optional),
  excludeCaches: Flag.Boolean("exclude-caches").pipe(Flag.withDescription("Leave out the contents of directories tagged with a CACHEDIR.TAG"), Flag.withDefault(false)),
  oneFileSystem: Flag.Boolean("one-file-system").pipe(
    Flag.withAlias("x"),
    Flag.withDescription("Do not cross into other filesystems (their mount points are recorded, empty)"),
    Flag.withDefault(false)
  ),
  host: Flag.String("host").pipe(
    Flag.withDescription("Record the backup under this host name instead of this machine's (e.g. in a container whose name changes)"),
    Flag.optional
  ),
  tags: Flag.String("tag").pipe(Flag.withDescription("Label the backup (repeatable, or comma-separated: --tag daily,db); list and forget select by it"), Flag.atLeast(0)),
  ignoreInode: Flag.Boolean("ignore-inode").pipe(
    Flag.withDescription("A file whose size and mtime match the last backup's is unchanged even with another inode number (FUSE, CIFS, NFS)"),
    Flag.withDefault(false)
  ),
  ignoreCtime: Flag.Boolean("ignore-ctime").pipe(
    Flag.withDescription("A file whose size and mtime match the last backup's is unchanged even with another ctime"),
    Flag.withDefault(false)
  ),
  force: Flag.Boolean("force").pipe(
    Flag.withDescription("Read every file, even those whose size, mtime, inode and ctime say they are unchanged since the last backup"),
    Flag.withDefault(false)
  ),
  time: Flag.String("time").pipe(
    Flag.withDescription("Record the backup at this time instead of now, e.g. \"2024-05-01 03:00:00\" (local) or 2024-05-01T03:00:00Z: for data from an older archive"),
    Flag.optional
  ),
  dryRun: Flag.Boolean("dry-run").pipe(
    Flag.withAlias("n"),
    Flag.withDescription("Only walk: say what would be backed up and which files read (new or changed), reading and writing nothing"),
    Flag.withDefault(false)
  ),
  skipIfUnchanged: Flag.Boolean("skip-if-unchanged").pipe(
    Flag.withDescription("Record no backup when nothing changed since the last one of these paths from this host (restic's); prints that one's id"),
    Flag.withDefault(false)
  ),
  json: jsonFlag
}, (a) => load(handlers.backup).pipe(Effect.flatMap((m) => m.backup(a)))).pipe(
  Command.withDescription("Back up files and directories")
)

/**
 * restic's `--host` and `--tag` for commands that take a backup id: `latest` is then the newest
 * backup they select (another machine's newer backup is not restored by mistake).
 */
const latestFilterFlags = {
  hosts: Flag.String("host").pipe(Flag.withDescription("With latest: the newest backup of this host (repeatable: any of them)"), Flag.atLeast(0)),
  tags: Flag.String("tag").pipe(Flag.withDescription("With latest: the newest backup labelled with this (repeatable or comma-separated: all of them)"), Flag.atLeast(0))
}

const restoreCommand = Command.make("restore", {
  id: Argument.String("backup-id").pipe(Argument.withDescription("Backup id (or a unique prefix, or latest)")),
  dest: Argument.String("dest").pipe(Argument.withDescription("Destination directory"), Argument.optional),
  path: Flag.String("path").pipe(Flag.withDescription("Restore only this path prefix, e.g. docs/ (repeatable: any of them)"), Flag.atLeast(0)),
  glob: Flag.String("glob").pipe(Flag.withDescription("Restore only files matching this glob, e.g. \"*.rs\" (repeatable: any of them)"), Flag.atLeast(0)),
  exclude: Flag.String("exclude").pipe(
    Flag.withDescription("Leave out what matches, as backup --exclude (a name at any depth, or a path from the backup's root: /data/tmp) (repeatable)"),
    Flag.atLeast(0)
  ),
  iexclude: Flag.String("iexclude").pipe(Flag.withDescription("As --exclude, ignoring case (repeatable)"), Flag.atLeast(0)),
  include: Flag.String("include").pipe(
    Flag.withDescription("Only what matches, and what is in a directory that matches (as restic's --include; --exclude's patterns) (repeatable)"),
    Flag.atLeast(0)
  ),
  iinclude: Flag.String("iinclude").pipe(Flag.withDescription("As --include, ignoring case (repeatable)"), Flag.atLeast(0)),
  excludeXattr: Flag.String("exclude-xattr").pipe(
    Flag.withDescription("Do not set the extended attributes whose name matches, e.g. 'security.selinux' on another system (repeatable)"),
    Flag.atLeast(0)
  ),
  includeXattr: Flag.String("include-xattr").pipe(Flag.withDescription("Set only the extended attributes whose name matches, e.g. 'user.*' (repeatable)"), Flag.atLeast(0)),
  list: Flag.Boolean("list").pipe(Flag.withDescription("List the selected entries instead of restoring"), Flag.withDefault(false)),
  overwrite: Flag.Literals("overwrite", ["always", "if-changed", "never"]).pipe(
    Flag.withDescription("Files already there: replace them (always), keep those of the same size and mtime (if-changed: resume a restore), or keep them all (never)"),
    Flag.withDefault("always")
  ),
  sparse: Flag.Boolean("sparse").pipe(Flag.withDescription("Leave blocks of zeros in large files as holes (disk images, preallocated files)"), Flag.withDefault(false)),
  delete: Flag.Boolean("delete").pipe(
    Flag.withDescription("Remove what the restored directories hold and the backup does not (of what the selection picks: excluded entries stay), as restic's --delete; check first with --dry-run"),
    Flag.withDefault(false)
  ),
  dryRun: Flag.Boolean("dry-run").pipe(Flag.withDescription("Write and remove nothing: say what would be restored and (with --delete) removed"), Flag.withDefault(false)),
  ...latestFilterFlags,
  json: jsonFlag
}, (a) => load(handlers.restore).pipe(Effect.flatMap((m) => m.restore(a)))).pipe(
  Command.withDescription("Restore a backup (or part of it) into a directory")
)

const lsCommand = Command.make("ls", {
  id: Argument.String("backup-id").pipe(Argument.withDescription("Backup id (or a unique prefix, or latest)")),
  dirs: Argument.String("dir").pipe(
    Argument.withDescription("Directories to list, as stored (e.g. home/me; / for the top); none: the whole backup"),
    Argument.variadic()
  ),
  recursive: Flag.Boolean("recursive").pipe(Flag.withAlias("R"), Flag.withDescription("With DIR: everything beneath it, not only what is directly in it"), Flag.withDefault(false)),
  long: Flag.Boolean("long").pipe(Flag.withAlias("l"), Flag.withDescription("Mode, owner, group, size and mtime too, as ls -l"), Flag.withDefault(false)),
  ...latestFilterFlags,
  json: jsonFlag
}, (a) => load(handlers.restore).pipe(Effect.flatMap((m) => m.ls(a)))).pipe(
  Command.withDescription("List the files of a backup, or of directories in it")
)

const findCommand = Command.make("find", {
  pattern: Argument.String("pattern").pipe(Argument.withDescription("A glob: a name (\"*.pdf\", \"notes.txt\"), or with / a whole stored path (\"home/*/Documents/**\")")),
  backup: Flag.String("backup").pipe(Flag.withDescription("Search this backup only (id, unique prefix, or latest)"), Flag.optional),
  json: jsonFlag
}, (a) => load(handlers.inspect).pipe(Effect.flatMap((m) => m.find(a)))).pipe(
  Command.withDescription("Find files by name or path in every backup, newest first")
)

const dumpCommand = Command.make("dump", {
  id: Argument.String("backup-id").pipe(Argument.withDescription("Backup id (or a unique prefix, or latest)")),
  path: Argument.String("path").pipe(Argument.withDescription("A file or directory, as `restore --list` shows it (e.g. home/me/notes.txt); / for the whole backup")),
  ...latestFilterFlags
}, (a) => load(handlers.restore).pipe(Effect.flatMap((m) => m.dump(a)))).pipe(
  Command.withDescription("Write a file of a backup to stdout, or a directory as a tar archive, verifying every chunk before its bytes")
)

const summaryFlag = (defaultMode: "text" | "json" | "none") =>
  Flag.Literals("summary", ["text", "json", "none"]).pipe(
    Flag.withDescription("Summary on stderr when done: text, json or none"),
    Flag.withDefault(defaultMode)
  )

const putCommand = Command.make("put", {
  name: Argument.String("name").pipe(Argument.withDescription("Name of the stream (e.g. db-2026-11-24)")),
  chunkSize: Flag.String("chunk-size").pipe(
    Flag.withDescription("Fixed-size chunks of this size (e.g. 64M) instead of content-defined chunking"),
    Flag.optional
  ),
  tags: Flag.String("tag").pipe(Flag.withDescription("Tag the stream: key=value (repeatable)"), Flag.atLeast(0)),
  fromCommand: Flag.String("from-command").pipe(
    Flag.withDescription("Store what this shell command prints instead of stdin, and only if it exits 0 (e.g. \"pg_dump db\"): a dump that fails halfway is not stored as complete"),
    Flag.optional
  ),
  summary: summaryFlag("text"),
  strictResume: Flag.Boolean("strict-resume").pipe(
    Flag.withDescription("When resuming, an input shorter than what was already stored is an error (--no-strict-resume stores it as is)"),
    Flag.withDefault(true)
  ),
  bufferChunks: Flag.Int("buffer-chunks").pipe(
    Flag.withDescription("Chunks waiting in memory for an upload slot (default: 2)"),
    Flag.optional
  ),
  diskspaceLimit: Flag.String("diskspace-limit").pipe(
    Flag.withDescription("When the memory buffer is full, let up to this much (e.g. 2G) wait in the scratch dir, so stdin is drained at disk speed"),
    Flag.optional
  ),
  scratchDir: Flag.String("scratch-dir").pipe(Flag.withDescription("Where chunks spill to (default: the temp dir)"), Flag.optional),
  ageRecipients: Flag.String("age-recipient").pipe(
    Flag.withDescription("Encrypt the chunks to this age recipient (age1… or post-quantum age1pq1…; repeatable) instead of the repository's keys"),
    Flag.atLeast(0)
  ),
  ageIdentities: ageIdentityFlag("Encrypt to the recipients of the identities in this age key file (repeatable)"),
  encrypt: Flag.Boolean("encrypt").pipe(
    Flag.withDescription("--no-encrypt stores the stream in the clear (s3duct parity; prints a warning)"),
    Flag.withDefault(true)
  ),
  storageClass: Flag.String("storage-class").pipe(
    Flag.withDescription("S3 storage class for this stream's chunks (STANDARD_IA, GLACIER, DEEP_ARCHIVE…); the log and keystore stay STANDARD"),
    Flag.optional
  ),
  encryptManifest: Flag.Boolean("encrypt-manifest").pipe(
    Flag.withDescription("Accepted for s3duct scripts: a stream's metadata (name, tags, hashes, chain) is always encrypted, in the log segments"),
    Flag.withDefault(true)
  )
}, (a) => load(handlers.pipe).pipe(Effect.flatMap((m) => m.put(a)))).pipe(
  Command.withDescription("Store stdin as a named stream (resumes an interrupted put of the same name)")
)

const getCommand = Command.make("get", {
  name: Argument.String("name").pipe(Argument.withDescription("Name of the stream")),
  summary: summaryFlag("none"),
  ageIdentities: ageIdentityFlag("age key file for a stream encrypted to age recipients (repeatable)"),
  noDecrypt: Flag.Boolean("no-decrypt").pipe(
    Flag.withDescription("Write the chunks as stored, still encrypted, as a tar archive: stream.json (chunk list with plaintext digests) and chunks/NNNNNN.age|.enigma|.bin; age chunks decrypt with `age -d`"),
    Flag.withDefault(false)
  )
}, (a) => load(handlers.pipe).pipe(Effect.flatMap((m) => m.get(a)))).pipe(
  Command.withDescription("Write a stored stream to stdout, verifying every chunk before its bytes")
)

/** restic's snapshot filter (BackupFilter.ts): `what` begins each description ("Only", "With --keep-*: only"). */
const backupFilterFlags = (what: string) => ({
  tags: Flag.String("tag").pipe(Flag.withDescription(`${what} the backups labelled with this (repeatable or comma-separated: all of them)`), Flag.atLeast(0)),
  hosts: Flag.String("host").pipe(Flag.withDescription(`${what} the backups of this host (repeatable: any of them)`), Flag.atLeast(0)),
  paths: Flag.String("path").pipe(Flag.withDescription(`${what} the backups made of this path (repeatable: of all of them)`), Flag.atLeast(0))
})

const listCommand = Command.make("list", {
  json: jsonFlag,
  prefix: Flag.String("prefix").pipe(Flag.withDescription("Only the streams whose name starts with this (backups have no name)"), Flag.optional),
  ...backupFilterFlags("Only"),
  latest: Flag.Int("latest").pipe(Flag.withDescription("Only the N newest backups of each host and set of paths"), Flag.optional)
}, (a) => load(handlers.inspect).pipe(Effect.flatMap((m) => m.list(a)))).pipe(
  Command.withDescription("List the backups and streams in the repository")
)

const statusCommand = Command.make("status", { json: jsonFlag }, (a) => load(handlers.inspect).pipe(Effect.flatMap((m) => m.status(a)))).pipe(
  Command.withDescription("Show providers, chunk counts, stored vs logical bytes")
)

const configCommand = Command.make("config", { json: jsonFlag }, (a) => load(handlers.inspect).pipe(Effect.flatMap((m) => m.config(a)))).pipe(
  Command.withDescription("Show the effective configuration (secrets masked)")
)

const diffCommand = Command.make("diff", {
  first: Argument.String("first").pipe(Argument.withDescription("Backup id (or unique prefix, or latest)")),
  second: Argument.String("second").pipe(Argument.withDescription("Backup id to compare it with (or unique prefix, or latest)")),
  metadata: Flag.Boolean("metadata").pipe(Flag.withDescription("Also list entries whose mode, mtime or owner alone changed (U)"), Flag.withDefault(false)),
  json: jsonFlag
}, (a) => load(handlers.inspect).pipe(Effect.flatMap((m) => m.diff(a)))).pipe(
  Command.withDescription("Show what changed between two backups: + added, - removed, M content, T kind, U metadata")
)

const verifyCommand = Command.make("verify", {
  id: Argument.String("backup-or-stream").pipe(
    Argument.withDescription("Backup id (or unique prefix, or latest), or a stream name; none: every chunk the repository references"),
    Argument.optional
  ),
  readData: Flag.Boolean("read-data").pipe(Flag.withDescription("Download, decrypt and re-hash every chunk"), Flag.withDefault(false)),
  readDataSubset: Flag.String("read-data-subset").pipe(
    Flag.withDescription("Whole repository: read back only part of the chunks, n/t (group n of t, the same each time: 1/7 … 7/7 covers a week) or x% (random)"),
    Flag.optional
  ),
  ageIdentities: ageIdentityFlag("age key file, to --read-data a stream encrypted to age recipients (repeatable)"),
  stream: Flag.Boolean("stream").pipe(Flag.withDescription("The name given is a stream's (where it is also a backup id's prefix, or latest)"), Flag.withDefault(false)),
  json: jsonFlag
}, (a) => load(handlers.maintain).pipe(Effect.flatMap((m) => m.verify(a)))).pipe(
  Command.withDescription("Check that every chunk of a backup, a stream or the whole repository exists (--read-data: and is intact)")
)

const thawCommand = Command.make("thaw", {
  id: Argument.String("backup-or-stream").pipe(Argument.withDescription("Backup id (or unique prefix, or latest), or a stream name")),
  stream: Flag.Boolean("stream").pipe(Flag.withDescription("The name given is a stream's (where it is also a backup id's prefix, or latest)"), Flag.withDefault(false)),
  days: Flag.Int("days").pipe(Flag.withDescription("Keep the thawed copies readable this many days (default 7)"), Flag.withDefault(7)),
  tier: Flag.Literals("tier", ["Standard", "Bulk", "Expedited"]).pipe(
    Flag.withDescription("Retrieval speed and price: Expedited (minutes), Standard (hours, the default), Bulk (cheapest, slowest)"),
    Flag.withDefault("Standard")
  ),
  json: jsonFlag
}, (a) => load(handlers.thaw).pipe(Effect.flatMap((m) => m.thaw(a)))).pipe(
  Command.withDescription("Request readable copies of a backup's chunks in cold storage (S3 GLACIER, DEEP_ARCHIVE)")
)

const keepFlag = (name: string, what: string) =>
  Flag.Int(`keep-${name}`).pipe(Flag.withDescription(`Keep the newest backup of each of the last N ${what}`), Flag.optional)

const forgetCommand = Command.make("forget", {
  ids: Argument.String("backup-or-stream").pipe(Argument.withDescription("Backup ids and stream names to forget"), Argument.variadic()),
  stream: Flag.Boolean("stream").pipe(Flag.withDescription("The names given are streams' (where a name is also a backup id's prefix, or latest)"), Flag.withDefault(false)),
  last: Flag.Int("keep-last").pipe(Flag.withDescription("Keep the N most recent backups"), Flag.optional),
  hourly: keepFlag("hourly", "hours"),
  daily: keepFlag("daily", "days"),
  weekly: keepFlag("weekly", "weeks"),
  monthly: keepFlag("monthly", "months"),
  yearly: keepFlag("yearly", "years"),
  within: Flag.String("keep-within").pipe(
    Flag.withDescription("Keep every backup newer than this span before the newest one, e.g. 30d, 6m, 1y6m, 12h"),
    Flag.optional
  ),
  keepTags: Flag.String("keep-tag").pipe(
    Flag.withDescription("Keep every backup labelled with this (repeatable: any of them; comma-separated: all of them)"),
    Flag.atLeast(0)
  ),
  ...backupFilterFlags("With --keep-*: only"),
  groupBy: Flag.String("group-by").pipe(
    Flag.withDescription("With --keep-*: apply the policy to each group of backups with the same host, paths and/or tags (default host,paths; '' for all as one)"),
    Flag.optional
  ),
  dryRun: dryRunFlag,
  prune: Flag.Boolean("prune").pipe(Flag.withDescription("Run gc afterwards, under the same lock, to reclaim the space"), Flag.withDefault(false)),
  json: jsonFlag
}, (a) => load(handlers.maintain).pipe(Effect.flatMap((m) => m.forget(a)))).pipe(
  Command.withDescription("Forget backups (by id or retention policy) and streams (by name); then run gc (or give --prune)")
)

const tagCommand = Command.make("tag", {
  ids: Argument.String("backup-id").pipe(
    Argument.withDescription("Backups to change (id, unique prefix, or latest); none: those --tag, --host or --path select"),
    Argument.variadic()
  ),
  add: Flag.String("add").pipe(Flag.withDescription("Add this label (repeatable, or comma-separated)"), Flag.atLeast(0)),
  remove: Flag.String("remove").pipe(Flag.withDescription("Remove this label (repeatable, or comma-separated)"), Flag.atLeast(0)),
  set: Flag.String("set").pipe(
    Flag.withDescription("Replace the labels with these (repeatable, or comma-separated); --set '' removes them all"),
    Flag.atLeast(0)
  ),
  ...backupFilterFlags("Only"),
  dryRun: dryRunFlag,
  json: jsonFlag
}, (a) => load(handlers.maintain).pipe(Effect.flatMap((m) => m.tag(a)))).pipe(
  Command.withDescription("Add, remove or replace the labels of backups (forget --keep-tag keeps what you label)")
)

const gcCommand = Command.make("gc", { dryRun: dryRunFlag, json: jsonFlag }, (a) => load(handlers.maintain).pipe(Effect.flatMap((m) => m.gc(a)))).pipe(
  Command.withDescription("Delete chunks that no backup references (--dry-run to list them)")
)

const repairCommand = Command.make("repair", {
  readData: Flag.Boolean("read-data").pipe(
    Flag.withDescription("Download, decrypt and re-hash every copy (and open every log segment), not only check that it is there with its size"),
    Flag.withDefault(false)
  ),
  dryRun: dryRunFlag,
  json: jsonFlag
}, (a) => load(handlers.maintain).pipe(Effect.flatMap((m) => m.repair(a)))).pipe(
  Command.withDescription(
    "Write missing or damaged copies again from an intact one, add copies up to `copies` (after adding a provider or raising it), and drop those on providers no longer configured"
  )
)

const unlockCommand = Command.make("unlock", {
  all: Flag.Boolean("remove-all").pipe(Flag.withDescription("Remove every lock, not only stale ones"), Flag.withDefault(false))
}, (a) => load(handlers.maintain).pipe(Effect.flatMap((m) => m.unlockLocks(a)))).pipe(
  Command.withDescription("Remove stale repository locks")
)

const rewriteCommand = Command.make("rewrite", {
  ids: Argument.String("backup-id").pipe(
    Argument.withDescription("Backups to rewrite (id, unique prefix, or latest); none: every backup the filters select"),
    Argument.variadic()
  ),
  ...excludeFlags(
    "Leave out what matches, as restore --exclude (a name at any depth, or a stored path from the top: /data/secrets) (repeatable)",
    "As --exclude, ignoring case (repeatable)"
  ),
  ...backupFilterFlags("Only"),
  forget: Flag.Boolean("forget").pipe(Flag.withDescription("Forget each original once its rewrite is recorded (then run gc)"), Flag.withDefault(false)),
  dryRun: dryRunFlag,
  json: jsonFlag
}, (a) => load(handlers.maintain).pipe(Effect.flatMap((m) => m.rewrite(a)))).pipe(
  Command.withDescription("Record backups again without the files that match --exclude (restic's rewrite); the originals stay unless --forget")
)

/** The new passphrase of `key passwd` and `key add`. */
const newPassphraseFlags = {
  newPassphrase: Flag.String("new-passphrase").pipe(
    Flag.withDescription("The new passphrase (or env ENIGMA_NEW_PASSPHRASE, or a prompt on a terminal)"),
    Flag.optional
  ),
  newPassphraseFile: Flag.String("new-passphrase-file").pipe(
    Flag.withDescription("Read the new passphrase from this file, trailing newlines dropped (env ENIGMA_NEW_PASSPHRASE_FILE)"),
    Flag.optional
  )
}

const keyCommand = Command.make("key").pipe(
  Command.withDescription("Manage the passphrases and data keys"),
  Command.withSubcommands([
    Command.make("rotate", { json: jsonFlag }, (a) => load(handlers.keys).pipe(Effect.flatMap((m) => m.keyRotate(a)))).pipe(
      Command.withDescription("Add a new data key and make it current")
    ),
    Command.make("list", { json: jsonFlag }, (a) => load(handlers.keys).pipe(Effect.flatMap((m) => m.keyList(a)))).pipe(
      Command.withDescription("List the passphrases that open the keystore, and the data keys")
    ),
    Command.make("passwd", { ...newPassphraseFlags, json: jsonFlag }, (a) => load(handlers.keys).pipe(Effect.flatMap((m) => m.keyPasswd(a)))).pipe(
      Command.withDescription("Change the passphrase given: re-seal its slot of the keystore (here and on every provider) and the config's enc: tokens")
    ),
    Command.make("add", {
      ...newPassphraseFlags,
      label: Flag.String("label").pipe(
        Flag.withDescription("What `key list` calls the new passphrase (default: user@host)"),
        Flag.optional
      ),
      json: jsonFlag
    }, (a) => load(handlers.keys).pipe(Effect.flatMap((m) => m.keyAdd(a)))).pipe(
      Command.withDescription("Add another passphrase that opens the repository (a colleague's, a recovery one kept in a safe)")
    ),
    Command.make("remove", {
      id: Argument.Int("ID").pipe(Argument.withDescription("The passphrase's id, as `enigma key list` shows it")),
      json: jsonFlag
    }, (a) => load(handlers.keys).pipe(Effect.flatMap((m) => m.keyRemove(a)))).pipe(
      Command.withDescription("Remove a passphrase (not the one given), here and on every provider")
    )
  ])
)

const encryptCredCommand = Command.make("encrypt-cred", {
  value: Argument.String("value").pipe(Argument.withDescription("The secret to encrypt for enigma.toml; - reads it from stdin (not seen by ps)"))
}, (a) => load(handlers.keys).pipe(Effect.flatMap((m) => m.encryptCred(a)))).pipe(
  Command.withDescription("Encrypt a credential into an enc:… token for enigma.toml")
)

const recoverCommand = Command.make("recover", { json: jsonFlag }, (a) => load(handlers.keys).pipe(Effect.flatMap((m) => m.recover(a)))).pipe(
  Command.withDescription("Rebuild keyfile and manifest from the providers (needs enigma.toml and the passphrase)")
)

/** The flags of `enigma proxy` and `enigma-proxy`; `[s3_proxy]` in the config supplies the rest. */
export const proxyFlags = {
  listen: Flag.String("listen").pipe(
    Flag.withDescription("Address to serve on, HOST:PORT (overrides s3_proxy.listen_addr; default 0.0.0.0:8333)"),
    Flag.optional
  ),
  accessKey: Flag.String("access-key").pipe(
    Flag.withDescription("An S3 access key clients may sign with, besides those in [s3_proxy] (env ENIGMA_PROXY_ACCESS_KEY)"),
    Flag.withFallbackConfig(Config.String("ENIGMA_PROXY_ACCESS_KEY")),
    Flag.optional
  ),
  secretKey: Flag.Redacted("secret-key").pipe(
    Flag.withDescription("Its secret key (env ENIGMA_PROXY_SECRET_KEY; prefer the env or the config over the command line)"),
    Flag.withFallbackConfig(Config.Redacted("ENIGMA_PROXY_SECRET_KEY")),
    Flag.optional
  ),
  virtualHost: Flag.String("virtual-host").pipe(
    Flag.withDescription("Also serve virtual-hosted-style requests: Host <bucket>.DOMAIN addresses that bucket (repeatable; adds to s3_proxy.virtual_host_domains)"),
    Flag.atLeast(0)
  )
}
export const proxyDescription = "Serve the repository as an S3 endpoint (any S3 client: aws-cli, rclone, s3cmd, restic, SDKs); configured by [s3_proxy]"
type ProxyArgs = Parameters<typeof import("./handlers/proxy.ts")["proxy"]>
export const runProxy = (a: ProxyArgs[0], global?: ProxyArgs[1]) =>
  load(handlers.proxy).pipe(Effect.flatMap((m) => m.proxy(a, global)))

const proxyCommand = Command.make("proxy", proxyFlags, (a) => runProxy(a)).pipe(Command.withDescription(proxyDescription))

export const enigmaCommand = rootCommand.pipe(
  Command.withSubcommands([
    initCommand,
    backupCommand,
    restoreCommand,
    putCommand,
    getCommand,
    listCommand,
    verifyCommand,
    diffCommand,
    dumpCommand,
    lsCommand,
    findCommand,
    thawCommand,
    forgetCommand,
    tagCommand,
    rewriteCommand,
    gcCommand,
    repairCommand,
    statusCommand,
    configCommand,
    keyCommand,
    encryptCredCommand,
    recoverCommand,
    unlockCommand,
    proxyCommand
  ])
)
