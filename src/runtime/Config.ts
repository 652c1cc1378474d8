import * as fs from "node:fs/promises"
import * as path from "node:path"
import { homedir } from "node:os"
import { Effect, Option, Redacted, Result } from "effect"
import { parse as parseToml, stringify as stringifyToml } from "smol-toml"
import { withoutByteOrderMark } from "../domain/ConfigText.ts"
import { ConfigError, RepositoryNotFound } from "../domain/Errors.ts"
import { decodeSettings, type EnigmaSettings, sharedStorageProblem, withDefaults } from "../domain/Settings.ts"
import { decryptCredential, isCredentialToken } from "../services/keys/Keys.ts"

export const configFileName = "enigma.toml"

export const expandHome = (p: string) => (p === "~" ? homedir() : p.startsWith("~/") ? path.join(homedir(), p.slice(2)) : p)
export const resolveConfigDir = (dir: string) => path.resolve(expandHome(dir))

/** Paths in the config may be relative to the config dir, or start with `~`. */
const absolutize = (dir: string, s: EnigmaSettings): EnigmaSettings => {
  const abs = (p: string) => path.resolve(dir, expandHome(p))
  return {
    enigma: {
      ...s.enigma,
      db_path: abs(s.enigma.db_path),
      keyfile_path: abs(s.enigma.keyfile_path),
      ...(s.enigma.kem_key_path ? { kem_key_path: abs(s.enigma.kem_key_path) } : {})
    },
    providers: s.providers.map((p) => (p.type === "Local" ? { ...p, bucket: abs(p.bucket) } : p)),
    ...(s.s3_proxy !== undefined
      ? {
        s3_proxy: {
          ...s.s3_proxy,
          ...(s.s3_proxy.tls_cert !== undefined ? { tls_cert: abs(s.s3_proxy.tls_cert) } : {}),
          ...(s.s3_proxy.tls_key !== undefined ? { tls_key: abs(s.s3_proxy.tls_key) } : {})
        }
      }
      : {})
  }
}

export const readConfigText = (file: string) =>
  Effect.tryPromise({
    try: () => fs.readFile(file, "utf8").then(withoutByteOrderMark),
    catch: (e) =>
      (e as { code?: string }).code === "ENOENT"
        ? new RepositoryNotFound({
          path: path.dirname(file),
          hint: path.basename(file) === configFileName
            ? `${configFileName} is missing; run \`enigma --config-dir ${path.dirname(file)} init\` (or \`recover\`)`
            : `config file ${file} is missing; write it, then run \`enigma --config ${file} init\` (or \`recover\`)`
        })
        : new ConfigError({ file, detail: `cannot read: ${(e as Error).message}` })
  })

/** Parses and validates enigma.toml; every problem names the file and the field. */
export const parseConfig = (file: string, text: string) =>
  Effect.gen(function*() {
    const dir = path.dirname(file)
    const raw = yield* Effect.try({
      try: () => parseToml(text),
      catch: (e) => new ConfigError({ file, detail: `not valid TOML: ${(e as Error).message.split("\n")[0]}` })
    })
    const decoded = decodeSettings(withDefaults(raw, dir))
    if (Result.isFailure(decoded)) return yield* new ConfigError({ file, detail: decoded.failure })
    const settings = absolutize(dir, decoded.success)
    // Checked once Local directories are absolute: `s1`, `./s1` and `~/x/s1` may be one place.
    const shared = sharedStorageProblem(settings.providers)
    if (shared !== undefined) return yield* new ConfigError({ file, detail: shared })
    return settings
  })

/**
 * Where the config lives: `--config FILE` (any name; its directory anchors relative paths) or
 * `--config-dir DIR` (DIR/enigma.toml).
 */
export const configLocation = (o: { readonly configDir: string; readonly configFile?: Option.Option<string> | undefined }) => {
  if (o.configFile !== undefined && Option.isSome(o.configFile)) {
    const file = path.resolve(expandHome(o.configFile.value))
    return { dir: path.dirname(file), file }
  }
  const dir = resolveConfigDir(o.configDir)
  return { dir, file: path.join(dir, configFileName) }
}

/** Reads and validates the config at `dir/enigma.toml`, or at `file` when given. */
export const loadConfig = (dir: string, file: string = path.join(dir, configFileName)) =>
  Effect.gen(function*() {
    const text = yield* readConfigText(file)
    return { file, settings: yield* parseConfig(file, text) }
  })

/** Replaces `enc:` tokens in provider secrets with their plaintext. */
export const decryptSecrets = (file: string, settings: EnigmaSettings, passphrase: Redacted.Redacted<string>) =>
  Effect.gen(function*() {
    const providers = []
    for (const p of settings.providers) {
      const out: Record<string, unknown> = { ...p }
      for (const [k, v] of Object.entries(p)) {
        if (typeof v === "string" && isCredentialToken(v)) {
          out[k] = yield* decryptCredential(v, passphrase, `${file} providers.${p.name}.${k}`)
        }
      }
      providers.push(out as typeof p)
    }
    const proxy = settings.s3_proxy
    if (proxy === undefined) return { ...settings, providers }
    const reveal = (v: string, field: string) =>
      isCredentialToken(v) ? decryptCredential(v, passphrase, `${file} s3_proxy.${field}`) : Effect.succeed(v)
    const users = []
    for (const [i, u] of (proxy.users ?? []).entries()) users.push({ ...u, secret_key: yield* reveal(u.secret_key, `users[${i}].secret_key`) })
    return {
      ...settings,
      providers,
      s3_proxy: {
        ...proxy,
        ...(proxy.secret_key !== undefined ? { secret_key: yield* reveal(proxy.secret_key, "secret_key") } : {}),
        ...(proxy.users !== undefined ? { users } : {})
      }
    }
  })

/** The effective config for `enigma config`: secrets masked. */
export const maskSecrets = (settings: EnigmaSettings): EnigmaSettings => ({
  ...settings,
  providers: settings.providers.map((p) => ({
    ...p,
    ...(p.access_key !== undefined ? { access_key: mask(p.access_key) } : {}),
    ...(p.secret_key !== undefined ? { secret_key: mask(p.secret_key) } : {}),
    ...(p.connection_string !== undefined ? { connection_string: mask(p.connection_string) } : {})
  })),
  ...(settings.s3_proxy !== undefined
    ? {
      s3_proxy: {
        ...settings.s3_proxy,
        ...(settings.s3_proxy.secret_key !== undefined ? { secret_key: mask(settings.s3_proxy.secret_key) } : {}),
        ...(settings.s3_proxy.users !== undefined ? { users: settings.s3_proxy.users.map((u) => ({ ...u, secret_key: mask(u.secret_key) })) } : {})
      }
    }
    : {})
})
const mask = (v: string) => (isCredentialToken(v) ? "enc:…" : v.length <= 4 ? "****" : `${v.slice(0, 2)}****`)

export const renderConfig = (settings: EnigmaSettings) => stringifyToml(settings as unknown as Record<string, unknown>)

/** Writes enigma.toml atomically (temp + fsync + rename), 0600: it may hold credentials. */
export const writeConfigFile = (file: string, settings: EnigmaSettings) =>
  writeConfigText(file, `# Enigma repository configuration (see README.md)\n${renderConfig(settings)}`)

/** Replaces a config file's text atomically (temp + fsync + rename), 0600. */
export const writeConfigText = (file: string, text: string) =>
  Effect.tryPromise({
    try: async () => {
      const tmp = `${file}.tmp-${process.pid}`
      const h = await fs.open(tmp, "w", 0o600)
      await h.writeFile(text)
      await h.sync()
      await h.close()
      await fs.rename(tmp, file)
    },
    catch: (e) => new ConfigError({ file, detail: `cannot write: ${(e as Error).message}` })
  })
