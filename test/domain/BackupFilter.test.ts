import { assert, describe, it } from "@effect/vitest"
import { everyBackup, isEveryBackup, parseBackupFilter, selects } from "../../src/domain/BackupFilter.ts"

describe("BackupFilter (restic's --tag / --host / --path)", () => {
  const backup = { tags: ["daily", "db"], host: "web", paths: ["/srv/a", "/srv/b"] }

  it("every tag, any host, every path", () => {
    assert.isTrue(selects(everyBackup, backup))
    assert.isTrue(selects({ ...everyBackup, tags: ["db", "daily"] }, backup))
    assert.isFalse(selects({ ...everyBackup, tags: ["db", "weekly"] }, backup))
    assert.isTrue(selects({ ...everyBackup, hosts: ["db", "web"] }, backup))
    assert.isFalse(selects({ ...everyBackup, hosts: ["db"] }, backup))
    assert.isTrue(selects({ ...everyBackup, paths: ["/srv/b"] }, backup))
    assert.isFalse(selects({ ...everyBackup, paths: ["/srv/b", "/srv/c"] }, backup))
  })

  it("parses the flags: paths made absolute from the working directory; empty values refused", () => {
    assert.deepStrictEqual(parseBackupFilter("/home/me", { tags: ["a,b"], hosts: [" web "], paths: ["docs/", "/etc"] }), {
      tags: ["a", "b"],
      hosts: ["web"],
      paths: ["/home/me/docs", "/etc"]
    })
    assert.isTrue(isEveryBackup(parseBackupFilter("/", { tags: [], hosts: [], paths: [] }) as typeof everyBackup))
    assert.deepStrictEqual(parseBackupFilter("/", { tags: [], hosts: [""], paths: [] }), { error: `--host "": give a host name, as \`enigma list\` shows them` })
    assert.deepStrictEqual(parseBackupFilter("/", { tags: [], hosts: [], paths: [" "] }), {
      error: `--path " ": give a path that was backed up, as \`enigma list\` shows them`
    })
    assert.match((parseBackupFilter("/", { tags: [","], hosts: [], paths: [] }) as { error: string }).error, /^--tag ",": give labels/)
  })
})
