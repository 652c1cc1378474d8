import { Effect, Option } from "effect"
import { configLocation } from "../Config.ts"
import { initRepository } from "../Init.ts"
import { emit } from "../Output.ts"
import { getPassphrase } from "../Passphrase.ts"
import { rootCommand } from "../commands/shared.ts"

export const init = Effect.fn("cli.init")(function*({ json, kemKeyFile }: { readonly json: boolean; readonly kemKeyFile: Option.Option<string> }) {
  const root = yield* rootCommand
  const { dir, file } = configLocation(root)
  const passphrase = yield* getPassphrase(root, { confirm: true })
  const r = yield* initRepository({ dir, file, passphrase, kemKeyFile: Option.getOrUndefined(kemKeyFile) })
  const keyfile = r.settings.enigma.keyfile_path
  yield* emit(json, { repositoryId: r.ring.repositoryId, configDir: dir, config: r.file, keyfile, kemMode: r.ring.kemMode, providers: r.providers.map((p) => p.name) }, () =>
    [
      `created repository ${r.ring.repositoryId} in ${dir}`,
      `  config:    ${r.file}${r.keptConfig ? " (kept)" : ""}`,
      `  keyfile:   ${keyfile} (${r.ring.kemMode === "split" ? `ML-KEM key in ${r.settings.enigma.kem_key_path}` : "ML-KEM key sealed inside"})`,
      `  providers: ${r.providers.map((p) => p.name).join(", ")}`,
      "Keep the passphrase safe: without it the data cannot be recovered."
    ].join("\n"))
})
