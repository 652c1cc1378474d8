import { existsSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { tempDir } from "./cli.ts"
import { freePort, spawnServer } from "./server.ts"

/**
 * Starts the FAKE secret stores (fakeVaultServer.ts: AWS Secrets Manager and Google Cloud Secret
 * Manager) as a process on loopback, in its own temp dir, and gives the test its secrets as
 * files, by key (AWS: the secret's name; GCP: `PROJECT/SECRET`): `get`, `set`, `remove`, and
 * `deny` to refuse every call as a revoked permission does.
 */
export const startFakeVault = async () => {
  const port = await freePort()
  const dir = tempDir("enigma-vaultfake-")
  const stop = await spawnServer([path.resolve(import.meta.dirname, "fakeVaultServer.ts"), "--dir", dir, "--port", String(port)], "vault fake listening", "vault fake")
  const file = (key: string) => path.join(dir, encodeURIComponent(key))
  return {
    url: `http://127.0.0.1:${port}`,
    get: (key: string): string | undefined => (existsSync(file(key)) ? readFileSync(file(key), "utf8") : undefined),
    set: (key: string, value: string) => writeFileSync(file(key), value),
    remove: (key: string) => unlinkSync(file(key)),
    deny: (on: boolean) => (on ? writeFileSync(path.join(dir, ".deny"), "") : rmSync(path.join(dir, ".deny"), { force: true })),
    stop
  }
}
export type FakeVault = Awaited<ReturnType<typeof startFakeVault>>
