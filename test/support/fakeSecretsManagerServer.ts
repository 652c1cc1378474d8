/**
 * A FAKE AWS Secrets Manager endpoint (no offline Secrets Manager exists here: LocalStack and moto
 * need Docker or PyPI). It answers the AWS JSON 1.1 calls Enigma's KemKeyStore makes through the
 * real `@aws-sdk/client-secrets-manager`: CreateSecret (ResourceExistsException for a name in
 * use), GetSecretValue (ResourceNotFoundException), DeleteSecret. Signatures are not checked.
 *
 * Run as its own process (the tests' CLI calls block their event loop):
 * `node fakeSecretsManagerServer.ts --dir DIR --port PORT`. Each secret is a file in DIR (name
 * URL-encoded), so tests read, change and delete them; while DIR/.deny exists every call answers
 * AccessDeniedException, as a revoked IAM permission would.
 */
import { existsSync, readFileSync, unlinkSync, writeFileSync } from "node:fs"
import { createServer, type IncomingMessage } from "node:http"
import * as path from "node:path"
import { parseArgs } from "node:util"

const { values } = parseArgs({ options: { dir: { type: "string" }, port: { type: "string" } } })
const dir = values.dir!

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    let body = ""
    req.on("data", (d: Buffer) => void (body += d.toString("utf8")))
    req.on("end", () => resolve(body))
    req.on("error", reject)
  })

const server = createServer(async (req, res) => {
  const body = JSON.parse((await readBody(req)) || "{}") as Record<string, unknown>
  const action = String(req.headers["x-amz-target"] ?? "").replace(/^secretsmanager\./, "")
  const answer = (status: number, value: object) => {
    res.writeHead(status, { "content-type": "application/x-amz-json-1.1" })
    res.end(JSON.stringify(value))
  }
  const fail = (type: string, message: string) => answer(400, { __type: type, message })
  if (existsSync(path.join(dir, ".deny"))) return fail("AccessDeniedException", `User is not authorized to perform: secretsmanager:${action}`)
  const id = String(body.SecretId ?? body.Name ?? "")
  const file = path.join(dir, encodeURIComponent(id))
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
})
server.listen(Number(values.port), "127.0.0.1", () => console.log("secrets manager fake listening"))
