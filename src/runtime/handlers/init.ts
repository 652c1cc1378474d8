import { Effect, Option } from "effect"
import { UserError } from "../../domain/Errors.ts"
import { type ArgonParams, checkNewArgonParams, DEFAULT_ARGON } from "../../domain/KeystoreLayout.ts"
import { parseBytes } from "../../domain/Size.ts"
import { configLocation } from "../Config.ts"
import { initRepository } from "../Init.ts"
import { emit } from "../Output.ts"
import { getPassphrase } from "../Passphrase.ts"
import { rootCommand } from "../commands/shared.ts"

interface InitFlags {
  readonly json: boolean
  readonly kemKeyFile: Option.Option<string>
  readonly argon2Memory: Option.Option<string>
  readonly argon2Passes: Option.Option<number>
  readonly argon2Lanes: Option.Option<number>
}

/**
 * The passphrase's Argon2id cost from --argon2-memory/-passes/-lanes over the defaults, refused
 * (before anything is written) when out of range or under the floor (checkNewArgonParams).
 */
const argonFromFlags = (a: InitFlags): Effect.Effect<ArgonParams, UserError> => {
  const memory = Option.match(a.argon2Memory, {
    onNone: () => DEFAULT_ARGON.memory,
    onSome: (text) => {
      const bytes = parseBytes(text)
      return bytes === undefined || bytes % 1024 !== 0 ? undefined : bytes / 1024
    }
  })
  if (memory === undefined) {
    return Effect.fail(new UserError({ detail: `--argon2-memory ${Option.getOrElse(a.argon2Memory, () => "")} is not a size in whole KiB; use e.g. 64M or 256M` }))
  }
  const argon = { memory, passes: Option.getOrElse(a.argon2Passes, () => DEFAULT_ARGON.passes), parallelism: Option.getOrElse(a.argon2Lanes, () => DEFAULT_ARGON.parallelism) }
  const bad = checkNewArgonParams(argon)
  return bad === undefined ? Effect.succeed(argon) : Effect.fail(new UserError({ detail: `${bad}; choose another --argon2-memory, --argon2-passes or --argon2-lanes` }))
}

export const init = Effect.fn("cli.init")(function*(a: InitFlags) {
  const { json, kemKeyFile } = a
  const argon = yield* argonFromFlags(a)
  const root = yield* rootCommand
  const { dir, file } = configLocation(root)
  const passphrase = yield* getPassphrase(root, { confirm: true })
  const r = yield* initRepository({ dir, file, passphrase, kemKeyFile: Option.getOrUndefined(kemKeyFile), argon })
  const keyfile = r.settings.enigma.keyfile_path
  yield* emit(json, { repositoryId: r.ring.repositoryId, configDir: dir, config: r.file, keyfile, kemMode: r.ring.kemMode, providers: r.providers.map((p) => p.name) }, () =>
    [
      `created repository ${r.ring.repositoryId} in ${dir}`,
      `  config:    ${r.file}${r.keptConfig ? " (kept)" : ""}`,
      `  keyfile:   ${keyfile} (${r.ring.kemMode === "split" ? `ML-KEM key in ${r.settings.enigma.kem_secret_name !== undefined ? `${r.settings.enigma.key_provider} secret ${r.settings.enigma.kem_secret_name}` : r.settings.enigma.kem_key_path}` : "ML-KEM key sealed inside"})`,
      `  providers: ${r.providers.map((p) => p.name).join(", ")}`,
      "Keep the passphrase safe: without it the data cannot be recovered."
    ].join("\n"))
})
