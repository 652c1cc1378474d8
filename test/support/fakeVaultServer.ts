/**
 * A FAKE of three secret stores, for the vault key providers' tests (no offline server exists for
 * any: LocalStack and moto need Docker or PyPI, Google ships no Secret Manager emulator, and
 * Lowkey Vault, Key Vault's, is a Java server not packaged here).
 * Secrets are files in DIR (name URL-encoded), so tests read, change and delete them; while
 * DIR/.deny exists every call is refused, as a revoked permission would be.
 *
 * - AWS Secrets Manager, the AWS JSON 1.1 calls Enigma makes through the real
 *   `@aws-sdk/client-secrets-manager` (`POST /` with `X-Amz-Target`): CreateSecret
 *   (ResourceExistsException for a name in use), GetSecretValue (ResourceNotFoundException),
 *   DeleteSecret. Signatures are not checked.
 * - Google Cloud Secret Manager's REST API, the paths Enigma uses under `/v1/projects/P/secrets`:
 *   create (`?secretId=`, 409 ALREADY_EXISTS), `:addVersion`, `/versions/latest:access` (404
 *   NOT_FOUND), DELETE. Secrets are kept per project (`P/S` in DIR); a created secret with no
 *   version yet is an empty file ending in `.empty`.
 * - Azure Key Vault's REST API (`?api-version=7.5`), over HTTPS on `--https-port` with the
 *   certificate given: GET and PUT `/secrets/NAME` (404 SecretNotFound; 409 Conflict for the name
 *   of a deleted one), DELETE (moves it to the deleted ones, `azure-deleted/NAME`), and the purge,
 *   DELETE `/deletedsecrets/NAME`. Secrets are `azure/NAME` in DIR. As Key Vault does, a call
 *   without a valid bearer token gets 401 and a challenge naming the resource and tenant; a token
 *   is valid when this fake issued it for the vault's resource.
 * - Azure App Service's managed identity endpoint (`GET /msi/token?resource=R` with the header
 *   X-IDENTITY-HEADER), which `@azure/identity` calls when IDENTITY_ENDPOINT and IDENTITY_HEADER
 *   are set: the token for Key Vault. While DIR/.deny-token exists it refuses, as an identity with
 *   no access would be.
 *
 * While DIR/.flaky holds a number N, the next N calls to any store fail with 503 (see `flaky`).
 *
 * Run as its own process (the tests' CLI calls block their event loop):
 * `node fakeVaultServer.ts --dir DIR --port PORT --https-port PORT --tls-cert FILE --tls-key FILE --identity-header H`.
 */
import { existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import * as path from "node:path"
import { parseArgs } from "node:util"

const { values } = parseArgs({
  options: { dir: { type: "string" }, port: { type: "string" }, "https-port": { type: "string" }, "tls-cert": { type: "string" }, "tls-key": { type: "string" }, "identity-header": { type: "string" } }
})
const dir = values.dir!
const fileOf = (name: string) => path.join(dir, encodeURIComponent(name))

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    let body = ""
    req.on("data", (d: Buffer) => void (body += d.toString("utf8")))
    req.on("end", () => resolve(body))
    req.on("error", reject)
  })

const json = (res: ServerResponse, status: number, value: object, type = "application/json") => {
  res.writeHead(status, { "content-type": type })
  res.end(JSON.stringify(value))
}

const aws = (res: ServerResponse, action: string, body: Record<string, unknown>) => {
  const answer = (status: number, value: object) => json(res, status, value, "application/x-amz-json-1.1")
  const fail = (type: string, message: string) => answer(400, { __type: type, message })
  if (existsSync(path.join(dir, ".deny"))) return fail("AccessDeniedException", `User is not authorized to perform: secretsmanager:${action}`)
  const id = String(body.SecretId ?? body.Name ?? "")
  const file = fileOf(id)
  const arn = `arn:aws:secretsmanager:us-east-1:000000000000:secret:${id}`
  const notFound = () => fail("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
  switch (action) {
    case "CreateSecret":
      if (existsSync(file)) return fail("ResourceExistsException", `The operation failed because the secret ${id} already exists.`)
      writeFileSync(file, String(body.SecretString))
      return answer(200, { ARN: arn, Name: id, VersionId: "v1" })
    case "GetSecretValue":
      if (!existsSync(file)) return notFound()
      return answer(200, { ARN: arn, Name: id, SecretString: readFileSync(file, "utf8"), VersionId: "v1", CreatedDate: 0 })
    case "DeleteSecret":
      if (!existsSync(file)) return notFound()
      unlinkSync(file)
      return answer(200, { ARN: arn, Name: id, DeletionDate: Date.now() / 1000 })
    default:
      return fail("InvalidRequestException", `the fake does not answer ${action}`)
  }
}

const gcp = (res: ServerResponse, method: string, url: URL, body: Record<string, unknown>) => {
  const fail = (code: number, status: string, message: string) => json(res, code, { error: { code, status, message } })
  if (existsSync(path.join(dir, ".deny"))) return fail(403, "PERMISSION_DENIED", "Permission 'secretmanager.versions.access' denied for resource (or it may not exist).")
  const m = /^\/v1\/projects\/([^/]+)\/secrets(?:\/([^/:]+))?(:addVersion|\/versions\/latest:access)?$/.exec(url.pathname)
  if (m === null) return fail(404, "NOT_FOUND", `the fake does not answer ${method} ${url.pathname}`)
  const project = decodeURIComponent(m[1]!)
  const id = m[2] !== undefined ? decodeURIComponent(m[2]) : url.searchParams.get("secretId") ?? ""
  const name = `projects/${project}/secrets/${id}`
  const file = fileOf(`${project}/${id}`)
  const empty = `${file}.empty`
  const notFound = () => fail(404, "NOT_FOUND", `Secret [${name}] not found or has no versions.`)
  if (method === "POST" && m[2] === undefined) {
    if (existsSync(file) || existsSync(empty)) return fail(409, "ALREADY_EXISTS", `Secret [${name}] already exists.`)
    writeFileSync(empty, "")
    return json(res, 200, { name, replication: body.replication })
  }
  if (method === "POST" && m[3] === ":addVersion") {
    if (!existsSync(file) && !existsSync(empty)) return notFound()
    writeFileSync(file, Buffer.from(String((body.payload as { data?: string } | undefined)?.data ?? ""), "base64"))
    if (existsSync(empty)) unlinkSync(empty)
    return json(res, 200, { name: `${name}/versions/1`, state: "ENABLED" })
  }
  if (method === "GET" && m[3] === "/versions/latest:access") {
    if (!existsSync(file)) return notFound()
    return json(res, 200, { name: `${name}/versions/1`, payload: { data: readFileSync(file).toString("base64") } })
  }
  if (method === "DELETE" && m[3] === undefined && m[2] !== undefined) {
    if (!existsSync(file) && !existsSync(empty)) return notFound()
    for (const f of [file, empty]) if (existsSync(f)) unlinkSync(f)
    return json(res, 200, {})
  }
  return fail(400, "INVALID_ARGUMENT", `the fake does not answer ${method} ${url.pathname}`)
}

/** The header the managed identity endpoint wants: IDENTITY_HEADER's value in the CLI's environment. */
const identityHeader = values["identity-header"]
const vaultResource = `https://127.0.0.1:${values["https-port"]}`
const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
const tokenFor = (resource: string) => `fake-token:${resource}`

const managedIdentity = (res: ServerResponse, req: IncomingMessage, url: URL) => {
  if (req.headers["x-identity-header"] !== identityHeader) return json(res, 400, { error: "invalid_request", error_description: "X-IDENTITY-HEADER is missing or wrong" })
  if (existsSync(path.join(dir, ".deny-token"))) {
    return json(res, 400, { error: "invalid_request", error_description: "Identity not found" })
  }
  const resource = url.searchParams.get("resource") ?? ""
  return json(res, 200, { access_token: tokenFor(resource), expires_on: String(Math.floor(Date.now() / 1000) + 3600), resource, token_type: "Bearer" })
}

const azure = (res: ServerResponse, req: IncomingMessage, url: URL, body: Record<string, unknown>) => {
  const fail = (status: number, code: string, message: string, inner?: string) =>
    json(res, status, { error: { code, message, ...(inner !== undefined ? { innererror: { code: inner } } : {}) } })
  if (req.headers.authorization !== `Bearer ${tokenFor(vaultResource)}`) {
    res.writeHead(401, { "www-authenticate": `Bearer authorization="https://login.microsoftonline.com/${tenant}", resource="${vaultResource}"`, "content-type": "application/json" })
    return res.end(JSON.stringify({ error: { code: "Unauthorized", message: "AKV10000: Request is missing a Bearer or PoP token." } }))
  }
  if (url.searchParams.get("api-version") === null) return fail(400, "BadParameter", "The request URI contains an invalid parameter: api-version is missing")
  if (existsSync(path.join(dir, ".deny"))) {
    // Key Vault's RBAC refusal runs over two lines (CRLF).
    return fail(403, "Forbidden", "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nAction: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'", "ForbiddenByRbac")
  }
  const m = /^\/(secrets|deletedsecrets)\/([^/]+)$/.exec(url.pathname)
  if (m === null) return fail(400, "BadParameter", `the fake does not answer ${req.method} ${url.pathname}`)
  const name = decodeURIComponent(m[2]!)
  const live = fileOf(`azure/${name}`)
  const deleted = fileOf(`azure-deleted/${name}`)
  const notFound = () => fail(404, "SecretNotFound", `A secret with (name/id) ${name} was not found in this key vault.`)
  const id = `${vaultResource}/secrets/${name}/0123456789abcdef`
  switch (`${req.method} ${m[1]}`) {
    case "GET secrets":
      if (!existsSync(live)) return notFound()
      return json(res, 200, { value: readFileSync(live, "utf8"), id, attributes: { enabled: true } })
    case "PUT secrets":
      if (existsSync(deleted)) return fail(409, "Conflict", `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`, "ObjectIsDeletedButRecoverable")
      writeFileSync(live, String(body.value))
      return json(res, 200, { value: body.value, id, contentType: body.contentType, tags: body.tags, attributes: { enabled: true } })
    case "DELETE secrets":
      if (!existsSync(live)) return notFound()
      renameSync(live, deleted)
      return json(res, 200, { recoveryId: `${vaultResource}/deletedsecrets/${name}`, id })
    case "DELETE deletedsecrets":
      if (!existsSync(deleted)) return notFound()
      unlinkSync(deleted)
      res.writeHead(204)
      return res.end()
    default:
      return fail(405, "MethodNotAllowed", `the fake does not answer ${req.method} ${url.pathname}`)
  }
}

const handle = (route: (req: IncomingMessage, res: ServerResponse, url: URL, body: Record<string, unknown>) => void) => async (req: IncomingMessage, res: ServerResponse) => {
  const text = await readBody(req)
  route(req, res, new URL(req.url ?? "/", "http://fake"), (text.length > 0 ? JSON.parse(text) : {}) as Record<string, unknown>)
}

/**
 * While DIR/.flaky holds a number N > 0, the next N calls to a secret store (not to the token
 * endpoint) fail with 503 in that store's form, as an overloaded front end answers.
 */
const flaky = (res: ServerResponse, store: "aws" | "gcp" | "azure") => {
  const file = path.join(dir, ".flaky")
  const left = existsSync(file) ? Number(readFileSync(file, "utf8")) : 0
  if (!(left > 0)) return false
  writeFileSync(file, String(left - 1))
  const message = "The service is currently unavailable."
  if (store === "aws") json(res, 503, { __type: "ServiceUnavailableException", message }, "application/x-amz-json-1.1")
  else if (store === "gcp") json(res, 503, { error: { code: 503, status: "UNAVAILABLE", message } })
  else {
    res.writeHead(503, { "content-type": "application/json", "retry-after": "0" })
    res.end(JSON.stringify({ error: { code: "ServiceUnavailable", message } }))
  }
  return true
}

const server = createServer(handle((req, res, url, body) => {
  const target = req.headers["x-amz-target"]
  if (typeof target === "string") return flaky(res, "aws") || aws(res, target.replace(/^secretsmanager\./, ""), body)
  if (url.pathname === "/msi/token") return managedIdentity(res, req, url)
  return flaky(res, "gcp") || gcp(res, req.method ?? "GET", url, body)
}))
const vault = createHttpsServer(
  { cert: readFileSync(values["tls-cert"]!), key: readFileSync(values["tls-key"]!) },
  handle((req, res, url, body) => flaky(res, "azure") || azure(res, req, url, body))
)
server.listen(Number(values.port), "127.0.0.1", () => vault.listen(Number(values["https-port"]), "127.0.0.1", () => console.log("vault fake listening")))
