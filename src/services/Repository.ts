import { Context } from "effect"
import type { EnigmaSettings } from "../domain/Settings.ts"
import type { KeyRing } from "./keys/Keys.ts"
import type { StorageProvider } from "./storage/StorageProvider.ts"

/**
 * An opened repository: its effective settings, the providers built from them and the
 * unlocked key ring. Built once per command by the runtime (`src/runtime/Open.ts`).
 */
export class Repository extends Context.Service<Repository, {
  /** The config dir holding enigma.toml. */
  readonly dir: string
  readonly configFile: string
  readonly settings: EnigmaSettings
  readonly providers: ReadonlyArray<StorageProvider>
  readonly ring: KeyRing
}>()("enigma/services/Repository") {}
