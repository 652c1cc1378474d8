import { Command } from "effect/cli"
import { backupCommand } from "./commands/backup.ts"
import { initCommand } from "./commands/init.ts"
import { configCommand, listCommand, statusCommand } from "./commands/inspect.ts"
import { encryptCredCommand, keyCommand, recoverCommand } from "./commands/keys.ts"
import { forgetCommand, gcCommand, unlockCommand, verifyCommand } from "./commands/maintain.ts"
import { restoreCommand } from "./commands/restore.ts"
import { rootCommand } from "./commands/shared.ts"

export const version = "0.1.0"

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
