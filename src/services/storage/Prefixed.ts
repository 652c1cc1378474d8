import { Effect, Stream } from "effect"
import type { StorageProvider, ThawOptions } from "./StorageProvider.ts"

/**
 * A provider seen through a key prefix (`s3://bucket/team/db` keeps everything under `team/db/`),
 * so several repositories can share a bucket. Keys above the prefix are never touched.
 */
export const withPrefix = (provider: StorageProvider, prefix: string): StorageProvider => {
  if (prefix === "") return provider
  const base = `${prefix}/`
  const inner = (key: string) => base + key
  return {
    ...provider,
    put: (key, body, options) => provider.put(inner(key), body, options),
    get: (key) => provider.get(inner(key)),
    putStream: (key, body, options) => provider.putStream(inner(key), body, options),
    getRange: (key, offset, length) => provider.getRange(inner(key), offset, length),
    getStream: (key, range) => provider.getStream(inner(key), range),
    head: (key) => provider.head(inner(key)),
    delete: (key) => provider.delete(inner(key)),
    list: (prefix) => provider.list(inner(prefix)).pipe(Stream.map((key) => key.slice(base.length))),
    ...(provider.listSized
      ? { listSized: (prefix: string) => provider.listSized!(inner(prefix)).pipe(Stream.map((o) => ({ ...o, key: o.key.slice(base.length) }))) }
      : {}),
    ...(provider.thaw ? { thaw: (key: string, options: ThawOptions) => provider.thaw!(inner(key), options) } : {}),
    ...(provider.sweepIncomplete
      ? {
        sweepIncomplete: (prefix: string, olderThanMs: number, dryRun: boolean) =>
          provider.sweepIncomplete!(inner(prefix), olderThanMs, dryRun).pipe(Effect.map((keys) => keys.map((key) => key.slice(base.length))))
      }
      : {})
  }
}
