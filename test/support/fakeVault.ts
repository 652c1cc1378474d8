import { existsSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { tempDir } from "./cli.ts"
import { freePort, spawnServer } from "./server.ts"
import { selfSignedCert } from "./tls.ts"

/**
 * Starts the FAKE secret stores (fakeVaultServer.ts: AWS Secrets Manager, Google Cloud Secret
 * Manager, Azure Key Vault and the managed identity endpoint that issues its tokens) as a process
 * on loopback, in its own temp dir, and gives the test its secrets as files, by key (AWS: the
 * secret's name; GCP: `PROJECT/SECRET`; Azure: `azure/NAME`, `azure-deleted/NAME` once deleted):
 * `get`, `set`, `remove`, and `deny` to refuse every call as a revoked permission does,
 * `denyToken` to refuse Azure tokens, `flaky` to fail the next calls with 503.
 *
 * Key Vault is served over HTTPS with a self-signed certificate made here; `azureEnv` is what the
 * CLI needs to trust it (NODE_EXTRA_CA_CERTS) and to find the token endpoint (App Service's
 * IDENTITY_ENDPOINT and IDENTITY_HEADER, which `@azure/identity` reads).
 */
export const startFakeVault = async () => {
  const [port, httpsPort] = [await freePort(), await freePort()]
  const dir = tempDir("enigma-vaultfake-")
  const { cert, key } = selfSignedCert(tempDir("enigma-vaultfake-tls-"))
  const identityHeader = "fake-identity-header"
  const stop = await spawnServer([
    path.resolve(import.meta.dirname, "fakeVaultServer.ts"), "--dir", dir, "--port", String(port), "--https-port", String(httpsPort),
    "--tls-cert", cert, "--tls-key", key, "--identity-header", identityHeader
  ], "vault fake listening", "vault fake")
  const file = (key: string) => path.join(dir, encodeURIComponent(key))
  const flag = (name: string) => (on: boolean) => (on ? writeFileSync(path.join(dir, name), "") : rmSync(path.join(dir, name), { force: true }))
  return {
    url: `http://127.0.0.1:${port}`,
    vaultUrl: `https://127.0.0.1:${httpsPort}/`,
    azureEnv: { NODE_EXTRA_CA_CERTS: cert, IDENTITY_ENDPOINT: `http://127.0.0.1:${port}/msi/token`, IDENTITY_HEADER: identityHeader },
    get: (key: string): string | undefined => (existsSync(file(key)) ? readFileSync(file(key), "utf8") : undefined),
    set: (key: string, value: string) => writeFileSync(file(key), value),
    remove: (key: string) => unlinkSync(file(key)),
    deny: flag(".deny"),
    denyToken: flag(".deny-token"),
    /** The next `calls` calls to a store (not for a token) fail with 503; 0 ends it. */
    flaky: (calls: number) => writeFileSync(path.join(dir, ".flaky"), String(calls)),
    stop
  }
}
export type FakeVault = Awaited<ReturnType<typeof startFakeVault>>
