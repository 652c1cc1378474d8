import { Effect, Redacted } from "effect"
import * as path from "node:path"
import type { ChunkIdHash } from "../../src/domain/ChunkIdHash.ts"
import { defaultSettings, type EnigmaSettings } from "../../src/domain/Settings.ts"
import { repositoryLayer } from "../../src/runtime/Open.ts"
import { Keys } from "../../src/services/keys/Keys.ts"
import type { StorageProvider } from "../../src/services/storage/StorageProvider.ts"

/**
 * A repository in `dir` over the given provider instances (so tests can wrap them in fault
 * injectors), with a fast Argon2 setting. `through` reads the same repository via other
 * provider instances with the same names.
 */
export const testRepository = (
  dir: string,
  providers: ReadonlyArray<StorageProvider>,
  enigma: Partial<EnigmaSettings["enigma"]> = {},
  chunkIdHash?: ChunkIdHash
) =>
  Effect.gen(function*() {
    const base = defaultSettings(dir)
    const settings: EnigmaSettings = {
      enigma: { ...base.enigma, ...enigma },
      providers: providers.map((p) => ({ name: p.name, type: "Local" as const, bucket: path.join(dir, p.name) }))
    }
    const passphrase = Redacted.make("pw")
    const ring = yield* (yield* Keys).create({
      keyfilePath: settings.enigma.keyfile_path,
      passphrase,
      kemMode: "embedded",
      argon: { memory: 8192, passes: 1, parallelism: 1 },
      chunkIdHash
    })
    const opened = { dir, file: path.join(dir, "enigma.toml"), settings, providers, ring, passphrase }
    return Object.assign(repositoryLayer(opened), {
      through: (others: ReadonlyArray<StorageProvider>) => repositoryLayer({ ...opened, providers: others })
    })
  }).pipe(Effect.provide(Keys.layer))
