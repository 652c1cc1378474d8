import { Effect } from "effect"
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
  init: () => import("./handlers/init.ts")
}
const load = <M>(f: () => Promise<M>) => Effect.promise(f)

const initCommand = Command.make("init", {
  json: jsonFlag,
  kemKeyFile: Flag.String("kem-key-file").pipe(
    Flag.withDescription("Keep the ML-KEM decapsulation key in this separate file (split mode: opening needs it and the passphrase)"),
    Flag.optional
  )
}, (a) => load(handlers.init).pipe(Effect.flatMap((m) => m.init(a)))).pipe(
  Command.withDescription("Create a repository: config, sealed keyfile, manifest database")
)

const backupCommand = Command.make("backup", {
  paths: Argument.String("path").pipe(Argument.withDescription("Files or directories to back up"), Argument.variadic({ min: 1 })),
  json: jsonFlag
}, (a) => load(handlers.backup).pipe(Effect.flatMap((m) => m.backup(a)))).pipe(
  Command.withDescription("Back up files and directories")
)

const restoreCommand = Command.make("restore", {
  id: Argument.String("backup-id").pipe(Argument.withDescription("Backup id (or a unique prefix)")),
  dest: Argument.String("dest").pipe(Argument.withDescription("Destination directory"), Argument.optional),
  path: Flag.String("path").pipe(Flag.withDescription("Restore only this path prefix (e.g. docs/)"), Flag.optional),
  glob: Flag.String("glob").pipe(Flag.withDescription("Restore only files matching this glob (e.g. \"*.rs\")"), Flag.optional),
  list: Flag.Boolean("list").pipe(Flag.withDescription("List the selected entries instead of restoring"), Flag.withDefault(false)),
  json: jsonFlag
}, (a) => load(handlers.restore).pipe(Effect.flatMap((m) => m.restore(a)))).pipe(
  Command.withDescription("Restore a backup (or part of it) into a directory")
)

const listCommand = Command.make("list", { json: jsonFlag }, (a) => load(handlers.inspect).pipe(Effect.flatMap((m) => m.list(a)))).pipe(
  Command.withDescription("List the backups in the repository")
)

const statusCommand = Command.make("status", { json: jsonFlag }, (a) => load(handlers.inspect).pipe(Effect.flatMap((m) => m.status(a)))).pipe(
  Command.withDescription("Show providers, chunk counts, stored vs logical bytes")
)

const configCommand = Command.make("config", { json: jsonFlag }, (a) => load(handlers.inspect).pipe(Effect.flatMap((m) => m.config(a)))).pipe(
  Command.withDescription("Show the effective configuration (secrets masked)")
)

const verifyCommand = Command.make("verify", {
  id: Argument.String("backup-id").pipe(Argument.withDescription("Backup id (or unique prefix)")),
  readData: Flag.Boolean("read-data").pipe(Flag.withDescription("Download, decrypt and re-hash every chunk"), Flag.withDefault(false)),
  json: jsonFlag
}, (a) => load(handlers.maintain).pipe(Effect.flatMap((m) => m.verify(a)))).pipe(
  Command.withDescription("Check that every chunk of a backup exists (--read-data: and is intact)")
)

const keepFlag = (name: string, what: string) =>
  Flag.Int(`keep-${name}`).pipe(Flag.withDescription(`Keep the newest backup of each of the last N ${what}`), Flag.optional)

const forgetCommand = Command.make("forget", {
  ids: Argument.String("backup-id").pipe(Argument.withDescription("Backups to forget"), Argument.variadic()),
  last: Flag.Int("keep-last").pipe(Flag.withDescription("Keep the N most recent backups"), Flag.optional),
  hourly: keepFlag("hourly", "hours"),
  daily: keepFlag("daily", "days"),
  weekly: keepFlag("weekly", "weeks"),
  monthly: keepFlag("monthly", "months"),
  yearly: keepFlag("yearly", "years"),
  dryRun: dryRunFlag,
  json: jsonFlag
}, (a) => load(handlers.maintain).pipe(Effect.flatMap((m) => m.forget(a)))).pipe(
  Command.withDescription("Forget backups by id or by retention policy (then run gc)")
)

const gcCommand = Command.make("gc", { dryRun: dryRunFlag, json: jsonFlag }, (a) => load(handlers.maintain).pipe(Effect.flatMap((m) => m.gc(a)))).pipe(
  Command.withDescription("Delete chunks that no backup references (--dry-run to list them)")
)

const unlockCommand = Command.make("unlock", {
  all: Flag.Boolean("remove-all").pipe(Flag.withDescription("Remove every lock, not only stale ones"), Flag.withDefault(false))
}, (a) => load(handlers.maintain).pipe(Effect.flatMap((m) => m.unlockLocks(a)))).pipe(
  Command.withDescription("Remove stale repository locks")
)

const keyCommand = Command.make("key").pipe(
  Command.withDescription("Manage data keys"),
  Command.withSubcommands([
    Command.make("rotate", { json: jsonFlag }, (a) => load(handlers.keys).pipe(Effect.flatMap((m) => m.keyRotate(a)))).pipe(
      Command.withDescription("Add a new data key and make it current")
    ),
    Command.make("list", { json: jsonFlag }, (a) => load(handlers.keys).pipe(Effect.flatMap((m) => m.keyList(a)))).pipe(
      Command.withDescription("List the data keys")
    )
  ])
)

const encryptCredCommand = Command.make("encrypt-cred", {
  value: Argument.String("value").pipe(Argument.withDescription("The secret to encrypt for enigma.toml"))
}, (a) => load(handlers.keys).pipe(Effect.flatMap((m) => m.encryptCred(a)))).pipe(
  Command.withDescription("Encrypt a credential into an enc:… token for enigma.toml")
)

const recoverCommand = Command.make("recover", { json: jsonFlag }, (a) => load(handlers.keys).pipe(Effect.flatMap((m) => m.recover(a)))).pipe(
  Command.withDescription("Rebuild keyfile and manifest from the providers (needs enigma.toml and the passphrase)")
)

export const enigmaCommand = rootCommand.pipe(
  Command.withSubcommands([
    initCommand,
    backupCommand,
    restoreCommand,
    listCommand,
    verifyCommand,
    forgetCommand,
    gcCommand,
    statusCommand,
    configCommand,
    keyCommand,
    encryptCredCommand,
    recoverCommand,
    unlockCommand
  ])
)
