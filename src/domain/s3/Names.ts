import { type S3Error, s3Error } from "./S3Error.ts"

/**
 * S3's rules for a general purpose bucket's name: 3–63 lowercase letters, digits, dots and
 * hyphens, starting and ending with a letter or digit, no `..`, not an IP address, and none of
 * the prefixes and suffixes AWS keeps for its own names (access point aliases, Object Lambda,
 * directory and table buckets, punycode): a bucket made here must also be one a copy to S3 can make.
 */
export const isValidBucketName = (name: string) =>
  /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) && !name.includes("..") && !/^\d+\.\d+\.\d+\.\d+$/.test(name) &&
  !/^(xn--|sthree-|amzn-s3-demo-)/.test(name) && !/(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(name)

/** S3's limit on a key: 1024 bytes of UTF-8, not 1024 characters (an `é` is two). */
export const maxKeyBytes = 1024

/** Why a key cannot name an object (S3's KeyTooLongError), or undefined when it can. */
export const objectKeyProblem = (key: string): S3Error | undefined => {
  if (key === "") return s3Error("KeyTooLongError", 400, "An object key must not be empty")
  const bytes = Buffer.byteLength(key, "utf8")
  return bytes > maxKeyBytes
    ? s3Error("KeyTooLongError", 400, `Your key is too long: ${bytes} bytes of UTF-8, the most is ${maxKeyBytes}`)
    : undefined
}
