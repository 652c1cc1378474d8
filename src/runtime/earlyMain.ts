import { startEarlyUnlock } from "./EarlyUnlock.ts"

/** Loaded by the `enigma` launcher before the CLI (scripts/build.ts): starts the keystore's Argon2id. */
startEarlyUnlock(process.argv.slice(2), process.env)
