/**
 * Answers to the GETs of bucket and object settings this gateway does not have (versioning, ACLs,
 * policies, CORS, lifecycle, bucket tags…), as S3 answers them for a bucket where they were never set.
 * Clients that look before they act (s3cmd info, Cyberduck, terraform, mc) then see "none" rather
 * than an error; the PUTs that would set them stay 501 NotImplemented.
 */
import { declaration, el, ns, ownerXml } from "./Xml.ts"

const owner = ownerXml()

export type Unconfigured =
  | { readonly _tag: "Body"; readonly xml: string }
  | { readonly _tag: "Missing"; readonly code: string; readonly detail: string }

const body = (xml: string): Unconfigured => ({ _tag: "Body", xml: `${declaration}${xml}` })
const missing = (code: string, detail: string): Unconfigured => ({ _tag: "Missing", code, detail })

const acl = body(
  `<AccessControlPolicy xmlns="${ns}">${owner}<AccessControlList>` +
    `<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">${el("ID", "enigma")}${el("DisplayName", "enigma")}</Grantee>` +
    `${el("Permission", "FULL_CONTROL")}</Grant></AccessControlList></AccessControlPolicy>`
)

/** Bucket subresources, by query parameter. */
export const bucketSettings: ReadonlyMap<string, Unconfigured> = new Map([
  ["versioning", body(`<VersioningConfiguration xmlns="${ns}"/>`)],
  ["acl", acl],
  ["policy", missing("NoSuchBucketPolicy", "The bucket policy does not exist")],
  ["cors", missing("NoSuchCORSConfiguration", "The CORS configuration does not exist")],
  ["lifecycle", missing("NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist")],
  ["encryption", missing("ServerSideEncryptionConfigurationNotFoundError", "The server side encryption configuration was not found")],
  ["tagging", missing("NoSuchTagSet", "The TagSet does not exist")],
  ["website", missing("NoSuchWebsiteConfiguration", "The specified bucket does not have a website configuration")],
  ["object-lock", missing("ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist for this bucket")],
  ["replication", missing("ReplicationConfigurationNotFoundError", "The replication configuration was not found")],
  ["logging", body(`<BucketLoggingStatus xmlns="${ns}"/>`)],
  ["requestPayment", body(`<RequestPaymentConfiguration xmlns="${ns}">${el("Payer", "BucketOwner")}</RequestPaymentConfiguration>`)],
  ["accelerate", body(`<AccelerateConfiguration xmlns="${ns}"/>`)],
  ["notification", body(`<NotificationConfiguration xmlns="${ns}"/>`)]
])

/** Object subresources, by query parameter. */
export const objectSettings: ReadonlyMap<string, Unconfigured> = new Map([
  ["acl", acl]
])
