import { Effect, Option, Redacted } from "effect"
import { UserError } from "../domain/Errors.ts"

/**
 * The passphrase comes from `--passphrase`, then `ENIGMA_PASSPHRASE`, then an interactive
 * prompt when stdin is a terminal (echo off). Without any of them the command fails with a
 * message saying how to pass one, instead of hanging on a pipe.
 */
export const getPassphrase = (flag: Option.Option<string>, options: { readonly confirm?: boolean } = {}) =>
  Effect.gen(function*() {
    if (Option.isSome(flag)) return Redacted.make(flag.value)
    const env = process.env.ENIGMA_PASSPHRASE
    if (env !== undefined && env !== "") return Redacted.make(env)
    if (!process.stdin.isTTY) {
      return yield* new UserError({
        detail: "a passphrase is required: pass --passphrase, set ENIGMA_PASSPHRASE, or run in a terminal to be prompted"
      })
    }
    const first = yield* Effect.promise(() => prompt("Passphrase: "))
    if (first.length === 0) return yield* new UserError({ detail: "the passphrase must not be empty" })
    if (options.confirm) {
      const again = yield* Effect.promise(() => prompt("Repeat passphrase: "))
      if (again !== first) return yield* new UserError({ detail: "the passphrases do not match" })
    }
    return Redacted.make(first)
  })

/**
 * `key passwd`'s new passphrase: `--new-passphrase`, then `ENIGMA_NEW_PASSPHRASE`, then a prompt
 * on a terminal, asked twice.
 */
export const getNewPassphrase = (flag: Option.Option<string>) =>
  Effect.gen(function*() {
    const given = Option.isSome(flag) ? flag.value : process.env.ENIGMA_NEW_PASSPHRASE
    if (given !== undefined && given !== "") return Redacted.make(given)
    if (given === "") return yield* new UserError({ detail: "the new passphrase must not be empty" })
    if (!process.stdin.isTTY) {
      return yield* new UserError({
        detail: "a new passphrase is required: pass --new-passphrase, set ENIGMA_NEW_PASSPHRASE, or run in a terminal to be prompted"
      })
    }
    const first = yield* Effect.promise(() => prompt("New passphrase: "))
    if (first.length === 0) return yield* new UserError({ detail: "the new passphrase must not be empty" })
    const again = yield* Effect.promise(() => prompt("Repeat new passphrase: "))
    if (again !== first) return yield* new UserError({ detail: "the new passphrases do not match; nothing was changed" })
    return Redacted.make(first)
  })

const prompt = (question: string) =>
  new Promise<string>((resolve) => {
    const stdin = process.stdin
    // Echo off before the prompt appears: a passphrase typed (or pasted) at once is not shown.
    stdin.setRawMode?.(true)
    stdin.resume()
    process.stderr.write(question)
    let input = ""
    const onData = (data: Buffer) => {
      for (const ch of data.toString("utf8")) {
        if (ch === "\r" || ch === "\n") {
          stdin.off("data", onData)
          stdin.setRawMode?.(false)
          stdin.pause()
          process.stderr.write("\n")
          resolve(input)
          return
        }
        if (ch === "\u0003") {
          stdin.setRawMode?.(false)
          process.stderr.write("\n")
          process.kill(process.pid, "SIGINT")
          return
        }
        if (ch === "\u007f") input = input.slice(0, -1)
        else input += ch
      }
    }
    stdin.on("data", onData)
  })
