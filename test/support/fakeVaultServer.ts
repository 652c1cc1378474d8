/**
 * A FAKE of two secret stores, for the vault key providers' tests (no offline server exists for
 * either: LocalStack and moto need Docker or PyPI, and Google ships no Secret Manager emulator).
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
 *
 * Run as its own process (the tests' CLI calls block their event loop):
 * `node fakeVaultServer.ts --dir DIR --port PORT`.
 */
import { existsSync, readFileSync, unlinkSync, writeFileSync } from "node:fs"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import * as path from "node:path"
import { parseArgs } from "node:util"

const { values } = parseArgs({ options: { dir: { type: "string" }, port: { type: "string" } } })
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

const server = createServer(async (req, res) => {
  const text = await readBody(req)
  const body = (text.length > 0 ? JSON.parse(text) : {}) as Record<string, unknown>
  const target = req.headers["x-amz-target"]
  if (typeof target === "string") return aws(res, target.replace(/^secretsmanager\./, ""), body)
  return gcp(res, req.method ?? "GET", new URL(req.url ?? "/", "http://fake"), body)
})
server.listen(Number(values.port), "127.0.0.1", () => console.log("vault fake listening"))
