import * as crypto from "node:crypto"
import type { ArgonParams } from "../../domain/KeystoreLayout.ts"

/**
 * Argon2id(passphrase NFC-normalised as UTF-8, salt) → 32 bytes, on threads of its own (OpenSSL
 * runs the lanes), with at most one derivation started early.
 *
 * Why early: opening the keystore costs one Argon2id (~75 ms here with the default parameters),
 * and the main thread used to wait for it after loading the CLI (~80 ms). The launcher reads the
 * passphrase and the keyfile's salt and parameters before it loads the rest of Enigma and starts
 * the derivation then (runtime/EarlyUnlock.ts); the keystore takes the result when it opens, if it
 * asks for exactly the same inputs. Any other request (another keyfile, another passphrase)
 * derives afresh, so a wrong early guess costs time on idle threads, never a wrong key.
 * Dependencies: node:crypto only, so the launcher's early module stays small.
 */

interface Early {
  readonly passphrase: string
  readonly salt: Uint8Array
  readonly argon: ArgonParams
  readonly key: Promise<Uint8Array>
}

let early: Early | undefined

const derive = (passphrase: string, salt: Uint8Array, p: ArgonParams): Promise<Uint8Array> =>
  new Promise((resolve, reject) => {
    try {
      crypto.argon2("argon2id", {
        message: new TextEncoder().encode(passphrase.normalize("NFC")),
        nonce: salt,
        parallelism: p.parallelism,
        tagLength: 32,
        memory: p.memory,
        passes: p.passes
      }, (err, key) => (err ? reject(err) : resolve(new Uint8Array(key))))
    } catch (e) {
      reject(e instanceof Error ? e : new Error(String(e)))
    }
  })

const sameInputs = (e: Early, passphrase: string, salt: Uint8Array, p: ArgonParams) =>
  e.passphrase === passphrase && e.salt.length === salt.length && crypto.timingSafeEqual(e.salt, salt) &&
  e.argon.memory === p.memory && e.argon.passes === p.passes && e.argon.parallelism === p.parallelism

/** Starts the one early derivation (later calls are ignored); its failure is met again, if ever, by `argon2idKey`. */
export const startArgon2idEarly = (passphrase: string, salt: Uint8Array, argon: ArgonParams): void => {
  if (early !== undefined) return
  const key = derive(passphrase, salt, argon)
  key.catch(() => {})
  early = { passphrase, salt, argon, key }
}

/** The derived key: the early derivation's when it had these inputs (taken once), else a new one. */
export const argon2idKey = (passphrase: string, salt: Uint8Array, p: ArgonParams): Promise<Uint8Array> => {
  const e = early
  if (e !== undefined && sameInputs(e, passphrase, salt, p)) {
    early = undefined
    // A failed early derivation is tried again here, where its error is reported.
    return e.key.catch(() => derive(passphrase, salt, p))
  }
  return derive(passphrase, salt, p)
}

/** Whether an early derivation is waiting to be taken (tests). */
export const earlyArgon2idPending = (): boolean => early !== undefined
