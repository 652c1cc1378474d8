import { closeSync, openSync, readFileSync, readSync } from "node:fs"
import { homedir } from "node:os"
import * as path from "node:path"
import { parse as parseToml } from "smol-toml"
import { withoutByteOrderMark } from "../domain/ConfigText.ts"
import { ARGON_INPUTS_PREFIX, argonInputs, slotArgonInputs } from "../domain/KeystoreLayout.ts"
import { startArgon2idEarly } from "../services/keys/Argon2id.ts"
import { passphraseSource, readPassphraseSource } from "./PassphraseSource.ts"

/**
 * The keystore's Argon2id, started by the launcher before the CLI loads (see Argon2id.ts for why).
 *
 * This reads the command line and environment as the CLI will, only as far as it needs to: the
 * command, `--config`/`--config-dir` (and their ENIGMA_CONFIG/ENIGMA_CONFIG_DIR), the passphrase
 * given or in a file (PassphraseSource.ts; a passphrase command is left to the CLI, which must
 * run it once only: it may prompt), and whether `--repo`/ENIGMA_REPO names a repository that has no
 * keystore. A guess that turns out wrong (the CLI reads the flags differently, the config does not
 * validate) only derives a key nobody takes; any error here gives up quietly, since the CLI
 * reports every problem itself a moment later.
 */

/** Commands that open a config dir's keystore; the others must not pay for a derivation. */
const unlockingCommands = new Set(["backup", "restore", "ls", "rewrite", "list", "status", "verify", "diff", "dump", "find", "forget", "tag", "gc", "repair", "unlock", "key", "put", "get", "thaw", "proxy"])
/** The root command's flags that take a value (commands/shared.ts). */
const valueFlags = new Set(["--config-dir", "--config", "--passphrase", "--passphrase-file", "--passphrase-command", "--limit-upload", "--limit-download", "--repo", "--key", "--endpoint-url", "--region", "--retry-lock", "--key-hint"])

const expandHome = (p: string) => (p === "~" ? homedir() : p.startsWith("~/") ? path.join(homedir(), p.slice(2)) : p)

export interface EarlyUnlockInputs {
  readonly passphrase: string
  readonly keyfile: string
  /** `--key-hint` / ENIGMA_KEY_HINT: the passphrase slot the open tries first. */
  readonly hint: number | undefined
}

/** The passphrase and keyfile a command line will open, when it will open one and both are known. */
export const earlyUnlockInputs = (
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>
): EarlyUnlockInputs | undefined => {
  const flags = new Map<string, string>()
  let command: string | undefined
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === "--") break
    if (a === "-h" || a === "--help" || a === "--version") return undefined
    if (!a.startsWith("-")) {
      command ??= a
      continue
    }
    const eq = a.indexOf("=")
    const name = eq < 0 ? a : a.slice(0, eq)
    if (!valueFlags.has(name)) continue
    const value = eq < 0 ? args[++i] : a.slice(eq + 1)
    if (value !== undefined && !flags.has(name)) flags.set(name, value)
  }
  if (command === undefined || !unlockingCommands.has(command)) return undefined
  if (flags.has("--repo") || flags.has("--key") || (env.ENIGMA_REPO ?? "") !== "") return undefined
  const chosen = passphraseSource(
    { passphrase: flags.get("--passphrase"), passphraseFile: flags.get("--passphrase-file"), passphraseCommand: flags.get("--passphrase-command") },
    env
  )
  if (!("source" in chosen) || chosen.source === undefined || chosen.source.kind === "command") return undefined
  const read = readPassphraseSource(chosen.source)
  if (!("value" in read)) return undefined
  const passphrase = read.value

  const configFile = flags.get("--config") ?? (env.ENIGMA_CONFIG || undefined)
  const file = configFile !== undefined
    ? path.resolve(expandHome(configFile))
    : path.join(path.resolve(expandHome(flags.get("--config-dir") ?? (env.ENIGMA_CONFIG_DIR || "~/.enigma"))), "enigma.toml")
  const dir = path.dirname(file)
  const config = parseToml(withoutByteOrderMark(readFileSync(file, "utf8"))) as { enigma?: { keyfile_path?: unknown } }
  const configured = config.enigma?.keyfile_path
  const keyfile = typeof configured === "string" ? path.resolve(dir, expandHome(configured)) : path.join(dir, "keys.enc")
  const hintText = flags.get("--key-hint") ?? (env.ENIGMA_KEY_HINT || undefined)
  const hint = hintText !== undefined && /^\d+$/.test(hintText) ? Number(hintText) : undefined
  return { passphrase, keyfile, hint }
}

/** The fixed start of a keyfile: enough for its (first slot's) salt and Argon2id parameters. */
const keyfileStart = (file: string): Uint8Array => {
  const fd = openSync(file, "r")
  try {
    const bytes = new Uint8Array(ARGON_INPUTS_PREFIX)
    return bytes.subarray(0, readSync(fd, bytes, 0, bytes.length, 0))
  } finally {
    closeSync(fd)
  }
}

/** Starts the derivation `args` and `env` call for, if any. Never throws. */
export const startEarlyUnlock = (args: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>): void => {
  try {
    const inputs = earlyUnlockInputs(args, env)
    if (inputs === undefined) return
    // The hinted slot's inputs need the whole header (a few KiB a slot); the first slot's, its start.
    const found = inputs.hint !== undefined
      ? slotArgonInputs(new Uint8Array(readFileSync(inputs.keyfile)), inputs.hint)
      : argonInputs(keyfileStart(inputs.keyfile))
    if (found !== undefined) startArgon2idEarly(inputs.passphrase, found.salt, found.argon)
  } catch {
    // The CLI meets the same problem (a missing or unreadable file, bad TOML) and reports it.
  }
}
