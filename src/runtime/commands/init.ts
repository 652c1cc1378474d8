import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { resolveConfigDir } from "../Config.ts"
import { initRepository } from "../Init.ts"
import { emit } from "../Output.ts"
import { getPassphrase } from "../Passphrase.ts"
import { jsonFlag, rootCommand } from "./shared.ts"

export const initCommand = Command.make("init", {
  json: jsonFlag,
  kemKeyFile: Flag.String("kem-key-file").pipe(
    Flag.withDescription("Keep the ML-KEM decapsulation key in this separate file (split mode: opening needs it and the passphrase)"),
    Flag.optional
  )
}, Effect.fn("cli.init")(function*({ json, kemKeyFile }) {
  const root = yield* rootCommand
  const dir = resolveConfigDir(root.configDir)
  const passphrase = yield* getPassphrase(root.passphrase, { confirm: true })
  const r = yield* initRepository({ dir, passphrase, kemKeyFile: Option.getOrUndefined(kemKeyFile) })
  const keyfile = r.settings.enigma.keyfile_path
  yield* emit(json, { repositoryId: r.ring.repositoryId, configDir: dir, config: r.file, keyfile, kemMode: r.ring.kemMode, providers: r.providers.map((p) => p.name) }, () =>
    [
      `created repository ${r.ring.repositoryId} in ${dir}`,
      `  config:    ${r.file}${r.keptConfig ? " (kept)" : ""}`,
      `  keyfile:   ${keyfile} (${r.ring.kemMode === "split" ? `ML-KEM key in ${r.settings.enigma.kem_key_path}` : "ML-KEM key sealed inside"})`,
      `  providers: ${r.providers.map((p) => p.name).join(", ")}`,
      "Keep the passphrase safe: without it the data cannot be recovered."
    ].join("\n"))
})).pipe(Command.withDescription("Create a repository: config, sealed keyfile, manifest database"))
