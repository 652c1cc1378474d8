import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { readFileSync, writeFileSync, mkdirSync } from "node:fs"
import { Agent } from "node:https"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { CreateBucketCommand, GetObjectCommand, HeadBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import { enigma, localProviderToml, passphrase, tempDir, testArgon } from "../support/cli.ts"
import { s3Failure, startProxyBin, stopProxy, type RunningProxy } from "../support/gateway.ts"
import { freePort } from "../support/server.ts"
import { selfSignedCert } from "../support/tls.ts"

/**
 * `enigma-proxy --config FILE`: the `[s3_proxy]` section (listen_addr, several key pairs, an
 * `enc:` secret, default_region, TLS, metrics_addr) and its bad inputs.
 */

const runProxyBin = (args: ReadonlyArray<string>) => {
  const r = execFileSync(process.execPath, [path.resolve(import.meta.dirname, "..", "..", "dist", "enigma-proxy.mjs"), ...args], {
    env: { ...process.env, ENIGMA_PASSPHRASE: passphrase },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"]
  })
  return r
}

/** Runs `enigma-proxy` expecting it to fail at start; returns exit code and stderr. */
const failingStart = (args: ReadonlyArray<string>) => {
  try {
    runProxyBin(args)
  } catch (e) {
    const err = e as { status: number; stderr: string }
    return { code: err.status, stderr: err.stderr }
  }
  throw new Error("expected enigma-proxy to exit with an error")
}

const tlsClient = (port: number, ca: Buffer, accessKeyId: string, secretAccessKey: string) =>
  new S3Client({
    endpoint: `https://localhost:${port}`,
    region: "eu-west-1",
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca }) })
  })

describe("enigma-proxy --config FILE ([s3_proxy])", () => {
  const root = tempDir()
  const dir = path.join(root, "dev")
  const file = path.join(dir, "config-single.toml")
  const tomlWith = (proxy: string) =>
    [localProviderToml("local", "storage"), "[s3_proxy]", proxy, ""].join("\n")
  let port: number
  let metricsPort: number
  let proxy: RunningProxy
  let cert: Buffer

  beforeAll(async () => {
    mkdirSync(dir, { recursive: true })
    cert = readFileSync(selfSignedCert(dir).cert)
    port = await freePort()
    metricsPort = await freePort()
    // A user writes the config first (paths relative to it), then initializes with --config.
    writeFileSync(file, tomlWith(`listen_addr = "127.0.0.1:${port}"\naccess_key = "admin"\nsecret_key = "admin-secret"`))
    const init = enigma(["--config", file, "init", ...testArgon])
    assert.strictEqual(init.code, 0, init.stderr)
    const token = enigma(["--config", file, "encrypt-cred", "backup-secret"]).stdout.trim()
    assert.match(token, /^enc:/)
    writeFileSync(file, tomlWith([
      `listen_addr = "127.0.0.1:${port}"`,
      `access_key = "admin"`,
      `secret_key = "admin-secret"`,
      `default_region = "eu-west-1"`,
      `tls_cert = "cert.pem"`,
      `tls_key = "key.pem"`,
      `metrics_addr = "127.0.0.1:${metricsPort}"`,
      `[[s3_proxy.users]]`,
      `name = "backups"`,
      `access_key = "backup-writer"`,
      `secret_key = "${token}"`
    ].join("\n")))
    // The passphrase from a file, as a service would have it (systemd's LoadCredential=): the
    // enc: secret above opens with it.
    const passphraseFile = path.join(root, "passphrase")
    writeFileSync(passphraseFile, `${passphrase}\n`, { mode: 0o600 })
    proxy = await startProxyBin(["--config", file, "--passphrase-file", passphraseFile], { ENIGMA_PASSPHRASE: "" })
  }, 60_000)
  afterAll(async () => {
    if (proxy) await stopProxy(proxy.child)
  })

  it("serves HTTPS on listen_addr to every configured key pair (an enc: secret included)", async () => {
    assert.include(proxy.output(), `https://127.0.0.1:${port}`)
    const admin = tlsClient(port, cert, "admin", "admin-secret")
    const writer = tlsClient(port, cert, "backup-writer", "backup-secret")
    await admin.send(new CreateBucketCommand({ Bucket: "tls" }))
    await writer.send(new PutObjectCommand({ Bucket: "tls", Key: "a.txt", Body: "over TLS" }))
    const got = await admin.send(new GetObjectCommand({ Bucket: "tls", Key: "a.txt" }))
    assert.strictEqual(await got.Body!.transformToString(), "over TLS")
    const head = await writer.send(new HeadBucketCommand({ Bucket: "tls" }))
    assert.strictEqual(head.BucketRegion, "eu-west-1")
    assert.deepStrictEqual(await s3Failure(tlsClient(port, cert, "nobody", "x").send(new GetObjectCommand({ Bucket: "tls", Key: "a.txt" }))), { code: "InvalidAccessKeyId", status: 403 })
    // The enc: token is not itself a secret clients can sign with.
    const token = readFileSync(file, "utf8").match(/secret_key = "(enc:[^"]+)"/)![1]!
    assert.deepStrictEqual(await s3Failure(tlsClient(port, cert, "backup-writer", token).send(new GetObjectCommand({ Bucket: "tls", Key: "a.txt" }))), { code: "SignatureDoesNotMatch", status: 403 })
    for (const c of [admin, writer]) c.destroy()
  })

  it("refuses plain HTTP on the TLS port", async () => {
    const r = await fetch(`http://127.0.0.1:${port}/`).then(() => "answered", (e: Error) => `failed: ${e.message}`)
    assert.match(r, /^failed/)
  })

  it("serves Prometheus metrics on metrics_addr", async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
    assert.match(text, /enigma_gateway_requests_total\{[^}]*method="PUT"[^}]*status="2xx"[^}]*\} [1-9]/)
    assert.match(text, /enigma_gateway_requests_total\{[^}]*status="4xx"[^}]*\} [1-9]/)
    assert.match(text, /enigma_gateway_request_duration_seconds_bucket/)
    assert.match(text, /enigma_gateway_received_bytes_total [1-9]/)
    assert.match(text, /enigma_gateway_sent_bytes_total [1-9]/)
  })

  it("`enigma config` masks the proxy's secrets", () => {
    const r = enigma(["--config", file, "config"])
    assert.strictEqual(r.code, 0, r.stderr)
    assert.include(r.stdout, "[s3_proxy]")
    assert.notInclude(r.stdout, "admin-secret")
    assert.include(r.stdout, "enc:…")
  })

  it("a second proxy on the same repository fails on the lock; a taken port is named", async () => {
    const busy = failingStart(["--config", file, "--listen", `127.0.0.1:${port}`])
    assert.notStrictEqual(busy.code, 0)
    assert.match(busy.stderr, /^enigma-proxy: .*(lock|cannot listen)/m)
  })
})

describe("enigma-proxy: bad [s3_proxy] settings get one line naming the field", () => {
  const root = tempDir()
  const file = path.join(root, "proxy.toml")
  const base = [localProviderToml("local", "storage"), ""].join("\n")

  beforeAll(() => {
    writeFileSync(file, base)
    writeFileSync(path.join(root, "not.pem"), "not a certificate\n")
    const init = enigma(["--config", file, "init", ...testArgon])
    assert.strictEqual(init.code, 0, init.stderr)
  })

  it.each([
    ["listen_addr = \"nonsense\"", /s3_proxy\.listen_addr.*HOST:PORT/],
    ["access_key = \"a\"", /access_key and secret_key go together/],
    ["access_key = \"a\"\nsecret_key = \"b\"\ntls_cert = \"missing.pem\"\ntls_key = \"missing.pem\"", /s3_proxy\.tls_cert: cannot read .*missing\.pem/],
    ["access_key = \"a\"\nsecret_key = \"b\"\ntls_cert = \"x.pem\"", /tls_cert and tls_key go together/],
    ["access_key = \"a\"\nsecret_key = \"b\"\ntls_cert = \"not.pem\"\ntls_key = \"not.pem\"", /s3_proxy\.tls_cert and tls_key \(.*not\.pem, .*not\.pem\) do not serve TLS: .*; give a PEM certificate and its own private key/],
    ["default_region = \"eu-west-1\"", /no S3 credentials/],
    ["access_key = \"a\"\nsecret_key = \"b\"\nlisten = \"127.0.0.1:1\"", /s3_proxy\.listen/],
    ["access_key = \"a\"\nsecret_key = \"b\"\nmax_transfers = 0", /s3_proxy\.max_transfers/],
    ["access_key = \"a\"\nsecret_key = \"b\"\nidle_timeout_secs = \"long\"", /s3_proxy\.idle_timeout_secs/],
    ["access_key = \"a\"\nsecret_key = \"b\"\ntransfer_wait_secs = 0", /s3_proxy\.transfer_wait_secs/]
  ])("%s", (section, message) => {
    writeFileSync(file, `${base}[s3_proxy]\n${section}\n`)
    const r = failingStart(["--config", file])
    assert.strictEqual(r.code, 1)
    assert.match(r.stderr, message)
    assert.strictEqual(r.stderr.trim().split("\n").length, 1, r.stderr)
  })

  it("a missing config file is repository-not-found (exit 10) naming the file", () => {
    const r = failingStart(["--config", path.join(root, "nope.toml")])
    assert.strictEqual(r.code, 10)
    assert.match(r.stderr, /nope\.toml/)
  })
})
