/**
 * Repository locations given as URLs (`--repo`), for use without a config dir:
 *   file:///srv/backup            a local directory
 *   s3://bucket/prefix            S3 (or an S3-compatible store with --endpoint-url)
 *   azure://container/prefix      Azure Blob (account from AZURE_STORAGE_* in the environment)
 *   gs://bucket/prefix            Google Cloud Storage (Application Default Credentials)
 * Pure: parsing only.
 */
export interface RepoLocation {
  readonly scheme: "file" | "s3" | "azure" | "gs"
  /** The directory for file://, else the bucket or container. */
  readonly bucket: string
  /** Key prefix inside the bucket, without leading or trailing slashes ("" for none). */
  readonly prefix: string
}

const bucketPattern = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/

/** The location, or a message saying what is wrong with `url`. */
export const parseRepoUrl = (url: string): RepoLocation | string => {
  const m = /^([a-z0-9]+):\/\/(.*)$/.exec(url)
  const examples = "use file:///path, s3://bucket/prefix, azure://container/prefix or gs://bucket/prefix"
  if (!m) return `--repo ${url} is not a repository URL; ${examples}`
  const [, scheme, rest] = m as unknown as [string, string, string]
  if (scheme === "file") {
    if (!rest.startsWith("/")) return `--repo ${url}: a file URL needs an absolute path (file:///path)`
    const dir = rest.replace(/\/+$/, "") || "/"
    return { scheme: "file", bucket: decodeURIComponent(dir), prefix: "" }
  }
  if (scheme !== "s3" && scheme !== "azure" && scheme !== "gs") return `--repo ${url}: unknown scheme ${scheme}; ${examples}`
  const slash = rest.indexOf("/")
  const bucket = slash < 0 ? rest : rest.slice(0, slash)
  const prefix = slash < 0 ? "" : rest.slice(slash + 1).replace(/^\/+|\/+$/g, "")
  if (!bucketPattern.test(bucket)) return `--repo ${url}: "${bucket}" is not a valid bucket or container name`
  if (prefix.split("/").some((p) => p === "." || p === "..")) return `--repo ${url}: the prefix must not contain . or .. segments`
  return { scheme, bucket, prefix }
}
