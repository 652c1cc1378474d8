import * as fs from "node:fs"
import { Effect } from "effect"
import { UserError } from "../domain/Errors.ts"
import { parseIdentityFile } from "../services/pipe/AgeCodec.ts"

/** The identities in `--age-identity` files, each checked. */
export const readAgeIdentities = (files: ReadonlyArray<string>) =>
  Effect.forEach(files, (file) =>
    Effect.gen(function*() {
      const text = yield* Effect.try({
        try: () => fs.readFileSync(file, "utf8"),
        catch: (e) => new UserError({ detail: `--age-identity ${file}: cannot read it: ${(e as Error).message}` })
      })
      const ids = parseIdentityFile(text)
      if (typeof ids === "string") return yield* new UserError({ detail: `--age-identity ${file} ${ids}` })
      return ids
    })).pipe(Effect.map((lists) => lists.flat()))
