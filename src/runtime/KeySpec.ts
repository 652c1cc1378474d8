import * as fs from "node:fs"
import { Effect } from "effect"
import { UserError } from "../domain/Errors.ts"

const hexKey = /^[0-9a-fA-F]{64}$/

/**
 * A raw 32-byte key as s3duct takes it: `hex:<64 hex digits>`, `file:PATH` (32 raw bytes, or 64
 * hex digits and a newline) or `env:VAR` (a variable holding 64 hex digits). Prefer file: or
 * env: — a hex: key on the command line is visible in the process list.
 */
export const readKeySpec = (spec: string) =>
  Effect.gen(function*() {
    const bad = (detail: string) => new UserError({ detail: `--key ${spec.startsWith("hex:") ? "hex:…" : spec}: ${detail}` })
    const fromHex = (text: string, where: string) =>
      hexKey.test(text.trim()) ? Effect.succeed(new Uint8Array(Buffer.from(text.trim(), "hex"))) : Effect.fail(bad(`${where} must be 64 hex digits (32 bytes); generate one with \`openssl rand -hex 32\``))
    if (spec.startsWith("hex:")) return yield* fromHex(spec.slice(4), "the key")
    if (spec.startsWith("env:")) {
      const value = process.env[spec.slice(4)]
      if (value === undefined || value === "") return yield* bad(`environment variable ${spec.slice(4)} is not set`)
      return yield* fromHex(value, `$${spec.slice(4)}`)
    }
    if (spec.startsWith("file:")) {
      const file = spec.slice(5)
      const bytes = yield* Effect.try({ try: () => fs.readFileSync(file), catch: (e) => bad(`cannot read ${file}: ${(e as Error).message}`) })
      if (bytes.length === 32) return new Uint8Array(bytes)
      return yield* fromHex(bytes.toString("latin1"), `${file}`)
    }
    return yield* bad("use hex:<64 hex digits>, file:PATH or env:VAR")
  })
