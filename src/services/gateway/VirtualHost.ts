import { s3Error, type S3Error } from "../../domain/s3/S3Error.ts"

/** Which bucket and key a request addresses. */
export interface Address {
  /** "" for the service endpoint (ListBuckets). */
  readonly bucket: string
  /** "" for a bucket operation. */
  readonly key: string
}

const decode = (s: string): string | undefined => {
  try {
    return decodeURIComponent(s)
  } catch {
    return undefined
  }
}

/** The Host header without its port, lower case (`[::1]:8333` → `[::1]`). */
const hostName = (host: string) => host.trim().toLowerCase().replace(/:\d+$/, "")

/**
 * Path-style (`/bucket/key`) or virtual-hosted-style (`Host: bucket.<domain>`, path `/key`)
 * addressing. `domains` are the base domains served virtual-hosted (e.g. "s3.local"); a Host
 * equal to one of them, or matching none, is path-style. The SigV4 canonical URI stays the raw
 * path either way: only the routing differs.
 */
export const addressOf = (rawPath: string, host: string | undefined, domains: ReadonlyArray<string>): Address | S3Error => {
  const name = host === undefined ? "" : hostName(host)
  for (const d of domains) {
    const domain = d.toLowerCase().replace(/^\.+/, "")
    if (domain !== "" && name.endsWith(`.${domain}`) && name.length > domain.length + 1) {
      const key = decode(rawPath.slice(1))
      if (key === undefined) return invalidUri()
      return { bucket: name.slice(0, name.length - domain.length - 1), key }
    }
  }
  const slash = rawPath.indexOf("/", 1)
  const bucket = decode(slash < 0 ? rawPath.slice(1) : rawPath.slice(1, slash))
  const key = slash < 0 ? "" : decode(rawPath.slice(slash + 1))
  if (bucket === undefined || key === undefined) return invalidUri()
  return { bucket, key }
}

const invalidUri = () => s3Error("InvalidURI", 400, "Couldn't parse the specified URI: fix its percent-encoding")
