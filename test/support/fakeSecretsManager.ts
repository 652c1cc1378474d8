import { existsSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { tempDir } from "./cli.ts"
import { freePort, spawnServer } from "./server.ts"

/**
 * Starts the FAKE AWS Secrets Manager (fakeSecretsManagerServer.ts) as a process on loopback, in
 * its own temp dir, and gives the test its secrets as files: `get`, `set`, `remove`, and `deny`
 * to make every call fail as a revoked permission does.
 */
export const startFakeSecretsManager = async () => {
  const port = await freePort()
  const dir = tempDir("enigma-smfake-")
  const stop = await spawnServer([path.resolve(import.meta.dirname, "fakeSecretsManagerServer.ts"), "--dir", dir, "--port", String(port)], "secrets manager fake listening", "secrets manager fake")
  const file = (name: string) => path.join(dir, encodeURIComponent(name))
  return {
    url: `http://127.0.0.1:${port}`,
    get: (name: string): string | undefined => (existsSync(file(name)) ? readFileSync(file(name), "utf8") : undefined),
    set: (name: string, value: string) => writeFileSync(file(name), value),
    remove: (name: string) => unlinkSync(file(name)),
    deny: (on: boolean) => (on ? writeFileSync(path.join(dir, ".deny"), "") : rmSync(path.join(dir, ".deny"), { force: true })),
    stop
  }
}
export type FakeSecretsManager = Awaited<ReturnType<typeof startFakeSecretsManager>>
