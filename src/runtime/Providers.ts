import * as path from "node:path"
import { Effect } from "effect"
import { ConfigError } from "../domain/Errors.ts"
import type { EnigmaSettings } from "../domain/Settings.ts"
import { makeLocalProvider } from "../services/storage/LocalProvider.ts"
import type { StorageProvider } from "../services/storage/StorageProvider.ts"

/**
 * Builds the configured providers. This build ships the Local provider; the cloud providers
 * (S3 and compatibles, Azure, GCS) are accepted by the config schema and refused here with a
 * clear message until their adapters land.
 */
export const buildProviders = (file: string, settings: EnigmaSettings) =>
  Effect.gen(function*() {
    const out: Array<StorageProvider> = []
    for (const p of settings.providers) {
      if (p.type !== "Local") {
        return yield* new ConfigError({
          file,
          detail: `provider "${p.name}": type ${p.type} is not available in this version of enigma (only Local is); remove it or use a Local provider`
        })
      }
      if (!path.isAbsolute(p.bucket)) {
        return yield* new ConfigError({ file, detail: `provider "${p.name}": bucket must be a directory path` })
      }
      out.push(makeLocalProvider(p.name, p.bucket))
    }
    return out
  })
