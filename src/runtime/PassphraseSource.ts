import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"

/**
 * Where a passphrase comes from: given as a value, read from a file, or printed by a command
 * (restic's --password-file and --password-command). Kept free of Effect and of the CLI, so that
 * the launcher's early Argon2id (EarlyUnlock.ts) reads the same source as the command will.
 *
 * Flags win over the environment. Two sources at the same level are an error rather than a
 * silent choice: a script that sets both may not be opening with the passphrase it thinks.
 */

export type PassphraseSource =
  | { readonly kind: "value"; readonly origin: string; readonly value: string }
  | { readonly kind: "file"; readonly origin: string; readonly path: string }
  | { readonly kind: "command"; readonly origin: string; readonly command: string }

/** A source found, none at all (prompt on a terminal), or a conflict to report. */
export type Chosen = { readonly source: PassphraseSource | undefined } | { readonly error: string }

interface Candidate {
  readonly origin: string
  readonly kind: PassphraseSource["kind"]
  readonly given: string | undefined
}

const sourceOf = (c: Candidate & { readonly given: string }): PassphraseSource =>
  c.kind === "value"
    ? { kind: "value", origin: c.origin, value: c.given }
    : c.kind === "file"
    ? { kind: "file", origin: c.origin, path: c.given }
    : { kind: "command", origin: c.origin, command: c.given }

const listed = (names: ReadonlyArray<string>) => `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`
const allOf = (given: ReadonlyArray<unknown>) => (given.length === 2 ? "both" : "all")

const pick = (flags: ReadonlyArray<Candidate>, env: ReadonlyArray<Candidate>): Chosen => {
  const flagsGiven = flags.filter((c): c is Candidate & { given: string } => c.given !== undefined)
  if (flagsGiven.length > 1) {
    return { error: `${listed(flagsGiven.map((c) => c.origin))} were ${allOf(flagsGiven)} given; give only one of ${listed(flags.map((c) => c.origin))}` }
  }
  if (flagsGiven.length === 1) return { source: sourceOf(flagsGiven[0]!) }
  // An empty variable counts as unset, as shells and `env -u` users expect.
  const envGiven = env.filter((c): c is Candidate & { given: string } => c.given !== undefined && c.given !== "")
  if (envGiven.length > 1) {
    return { error: `${listed(envGiven.map((c) => c.origin))} are ${allOf(envGiven)} set; set only one (or give a flag, which wins)` }
  }
  return { source: envGiven.length === 1 ? sourceOf(envGiven[0]!) : undefined }
}

/** The repository passphrase's flags (undefined: not given). */
export interface PassphraseFlags {
  readonly passphrase: string | undefined
  readonly passphraseFile: string | undefined
  readonly passphraseCommand: string | undefined
}

type Env = Readonly<Record<string, string | undefined>>

/** The repository passphrase: `--passphrase`, `--passphrase-file`, `--passphrase-command`, then their ENIGMA_ variables. */
export const passphraseSource = (flags: PassphraseFlags, env: Env): Chosen =>
  pick([
    { origin: "--passphrase", kind: "value", given: flags.passphrase },
    { origin: "--passphrase-file", kind: "file", given: flags.passphraseFile },
    { origin: "--passphrase-command", kind: "command", given: flags.passphraseCommand }
  ], [
    { origin: "ENIGMA_PASSPHRASE", kind: "value", given: env.ENIGMA_PASSPHRASE },
    { origin: "ENIGMA_PASSPHRASE_FILE", kind: "file", given: env.ENIGMA_PASSPHRASE_FILE },
    { origin: "ENIGMA_PASSPHRASE_COMMAND", kind: "command", given: env.ENIGMA_PASSPHRASE_COMMAND }
  ])

/** `key passwd`'s new passphrase: `--new-passphrase`, `--new-passphrase-file`, then their ENIGMA_NEW_ variables. */
export const newPassphraseSource = (flags: { readonly newPassphrase: string | undefined; readonly newPassphraseFile: string | undefined }, env: Env): Chosen =>
  pick([
    { origin: "--new-passphrase", kind: "value", given: flags.newPassphrase },
    { origin: "--new-passphrase-file", kind: "file", given: flags.newPassphraseFile }
  ], [
    { origin: "ENIGMA_NEW_PASSPHRASE", kind: "value", given: env.ENIGMA_NEW_PASSPHRASE },
    { origin: "ENIGMA_NEW_PASSPHRASE_FILE", kind: "file", given: env.ENIGMA_NEW_PASSPHRASE_FILE }
  ])

/** A passphrase file holds the passphrase alone; anything larger was named by mistake. */
const MAX_PASSPHRASE_BYTES = 64 * 1024

/** Trailing line ends go: `echo pass > file` and editors add one, and `$(cat file)` drops them too. */
const withoutLineEnds = (s: string) => s.replace(/[\r\n]+$/, "")

/** The passphrase a file or command yields, or a one-line error naming the source and what to do. */
export const readPassphraseSource = (source: PassphraseSource): { readonly value: string } | { readonly error: string } => {
  if (source.kind === "value") return { value: source.value }
  if (source.kind === "file") {
    const where = `passphrase file ${source.path} (${source.origin})`
    let bytes: Buffer
    try {
      bytes = readFileSync(source.path)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === "ENOENT") return { error: `${where} does not exist; give the file that holds the passphrase` }
      if (code === "EISDIR") return { error: `${where} is a directory; give the file that holds the passphrase` }
      if (code === "EACCES" || code === "EPERM") return { error: `${where} is not readable by this user; run as its owner or change its permissions` }
      return { error: `cannot read ${where}: ${(e as Error).message}` }
    }
    if (bytes.length > MAX_PASSPHRASE_BYTES) {
      return { error: `${where} is ${bytes.length} bytes; a passphrase file holds the passphrase alone (at most ${MAX_PASSPHRASE_BYTES})` }
    }
    const value = withoutLineEnds(bytes.toString("utf8"))
    if (value === "") return { error: `${where} is empty; write the passphrase into it` }
    return { value }
  }
  // The command's stdin is not ours to give: `put` reads its data from it. Its stderr is the
  // user's terminal, for a prompt (pinentry, ssh-askpass) or an error of its own. The command's
  // text is not repeated in errors: it may hold a secret of its own.
  const r = spawnSync("/bin/sh", ["-c", source.command], { stdio: ["ignore", "pipe", "inherit"], maxBuffer: MAX_PASSPHRASE_BYTES })
  const what = `the passphrase command (${source.origin})`
  if (r.error !== undefined) {
    const code = (r.error as NodeJS.ErrnoException).code
    return { error: code === "ENOBUFS" ? `${what} printed more than ${MAX_PASSPHRASE_BYTES} bytes; it should print the passphrase alone` : `${what} could not run: ${r.error.message}` }
  }
  if (r.signal !== null) return { error: `${what} was killed by ${r.signal}` }
  if (r.status !== 0) return { error: `${what} failed with exit code ${r.status}; run it by hand to see why` }
  const value = withoutLineEnds(r.stdout.toString("utf8"))
  if (value === "") return { error: `${what} printed nothing; it should print the passphrase on stdout` }
  return { value }
}
