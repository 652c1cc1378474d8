import { assert, describe, it } from "@effect/vitest"
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { enigma, initRepo, json, localProviderToml, makeTree, tempDir } from "../support/cli.ts"

/**
 * One repository, two manifests: the first machine's config dir, and a second one made by
 * `recover` (as `init` suggests when the providers already hold a repository). Before a writer
 * writes it imports what the other sealed, so that neither numbers its events over the other's,
 * and gc on one never takes the other's chunks for orphans.
 */
describe("one repository written from two manifests (recover on a second machine)", () => {
  const store = () => path.join(tempDir(), "store")
  const recovered = (toml: string) => {
    const dir = path.join(tempDir(), "recovered")
    mkdirSync(dir)
    writeFileSync(path.join(dir, "enigma.toml"), toml)
    const r = enigma(["--config-dir", dir, "recover"])
    assert.strictEqual(r.code, 0, r.stderr)
    return ["--config-dir", dir] as const
  }
  const twoManifests = () => {
    const at = store()
    const toml = `[enigma]\n${localProviderToml("shared", at)}`
    const first = initRepo([], toml)
    return { store: at, toml, a: first.g, b: recovered(toml), root: first.root }
  }
  const ids = (g: ReadonlyArray<string>) => (json(enigma([...g, "list", "--json"])) as Array<{ id: string }>).map((e) => e.id).sort()

  it("each writer first imports what the other sealed: gc on one keeps the other's chunks, and their lists agree", () => {
    const { a, b, root, toml } = twoManifests()
    for (const d of ["one", "two"]) makeTree(path.join(root, d))
    const first = json(enigma([...a, "backup", path.join(root, "one"), "--json"])).backupId as string
    // The second has not seen that backup; its gc (a writer) must import it before looking for orphans.
    const gc = enigma([...b, "gc", "--json"])
    assert.strictEqual(gc.code, 0, gc.stderr)
    assert.deepStrictEqual(json(gc).orphanObjects, [])
    assert.strictEqual(enigma([...a, "verify", first, "--read-data"]).code, 0)
    const second = json(enigma([...b, "backup", path.join(root, "two"), "--json"])).backupId as string
    // The first writes again: it takes in the second's backup, then adds its own after it.
    const third = json(enigma([...a, "backup", path.join(root, "one"), "--json"])).backupId as string
    assert.deepStrictEqual(ids(a), [first, second, third].sort())
    assert.strictEqual(enigma([...b, "gc"]).code, 0)
    assert.deepStrictEqual(ids(b), ids(a))
    assert.strictEqual(enigma([...a, "verify", "--read-data"]).code, 0)
    // A manifest recovered now holds the same history.
    assert.deepStrictEqual(ids(recovered(toml)), ids(a))
  })

  it("a manifest whose log went apart from the providers' refuses to write: one line, exit 1, nothing written", () => {
    const { store, a, b, root } = twoManifests()
    makeTree(path.join(root, "data"))
    assert.strictEqual(enigma([...a, "backup", path.join(root, "data")]).code, 0)
    assert.strictEqual(enigma([...b, "backup", path.join(root, "data")]).code, 0)
    // The first writes while the log is out of its sight (as an enigma that imported nothing
    // did): its events take the numbers the second's already hold. Its segments are then lost
    // to the second's of the same names.
    const log = path.join(store, "log")
    renameSync(log, `${log}-away`)
    mkdirSync(log)
    assert.strictEqual(enigma([...a, "backup", path.join(root, "data")]).code, 0)
    rmSync(log, { recursive: true })
    renameSync(`${log}-away`, log)
    const before = { a: ids(a), b: ids(b) }
    const r = enigma([...a, "backup", path.join(root, "data")])
    assert.strictEqual(r.code, 1)
    assert.match(r.stderr, /^enigma: the repository's log on provider shared differs from this manifest's at event \d+: another manifest wrote to the repository without this one's events; write from one machine only, and make the others' manifests again with `enigma recover` \(into an empty config dir\)\n$/)
    assert.deepStrictEqual({ a: ids(a), b: ids(b) }, before)
    // The second, whose log the providers hold, writes on.
    assert.strictEqual(enigma([...b, "backup", path.join(root, "data")]).code, 0)
  })

  it("a log segment that does not open stops no write: another provider's is read, and with none, one warning", () => {
    const { root, dir, g } = initRepo([], `[enigma]\ncopies = 2\n${localProviderToml("p1")}${localProviderToml("p2")}`)
    makeTree(path.join(root, "data"))
    assert.strictEqual(enigma([...g, "backup", path.join(root, "data")]).code, 0)
    const damageNewest = (provider: string) => {
      const log = path.join(dir, provider, "log")
      writeFileSync(path.join(log, readdirSync(log).sort().at(-1)!), "garbage")
    }
    damageNewest("p1")
    const one = enigma([...g, "backup", path.join(root, "data")])
    assert.strictEqual(one.code, 0, one.stderr)
    assert.strictEqual(one.stderr, "")
    damageNewest("p1")
    damageNewest("p2")
    const both = enigma([...g, "backup", path.join(root, "data")])
    assert.strictEqual(both.code, 0, both.stderr)
    assert.match(both.stderr, /^warning: log segment log\/\d+-\d+: .*; went on without importing what other machines sealed\n$/)
  })

  it("a key rotated on the other machine: this one's restore stops naming what to do, its key commands refuse to write over it; recover of the keyfile mends it", () => {
    const { store, a, b, root } = twoManifests()
    const keyfile = path.join(a[1], "keys.enc")
    makeTree(path.join(root, "data"))
    assert.strictEqual(enigma([...b, "key", "rotate"]).code, 0)
    const id = json(enigma([...b, "backup", path.join(root, "data"), "--json"])).backupId as string
    assert.strictEqual(enigma([...a, "gc", "--dry-run"]).code, 0) // a writer: imports the backup
    const advice = `the keystore on the providers differs from keyfile ${keyfile} (another machine changed keys or passphrases): move ${keyfile} aside and run \`enigma recover\` to take the providers' keystore, then run this again`
    const restore = enigma([...a, "restore", id, path.join(root, "out")])
    assert.strictEqual(restore.code, 1)
    assert.include(restore.stderr, `which this keyfile lacks; ${advice}`)
    const shared = readFileSync(path.join(store, "keys", "keystore"))
    const another = path.join(root, "another-passphrase")
    writeFileSync(another, "another one\n")
    const add = enigma([...a, "key", "add", "--new-passphrase-file", another])
    assert.strictEqual(add.code, 1)
    assert.strictEqual(add.stderr, `enigma: ${advice}\n`)
    assert.isTrue(readFileSync(path.join(store, "keys", "keystore")).equals(shared), "the providers' keystore is as the other machine left it")
    // verify does not send this machine to repair, and repair does not write its keyfile over theirs.
    const verify = enigma([...a, "verify"])
    assert.strictEqual(verify.code, 1)
    assert.include(verify.stdout, `this machine's keyfile is behind the providers' keystore: ${advice}`)
    assert.notInclude(verify.stdout, "`enigma repair` writes it again")
    const repair = enigma([...a, "repair"])
    assert.strictEqual(repair.code, 1)
    assert.include(repair.stdout + repair.stderr, advice)
    assert.notInclude(repair.stdout, "wrote the keyfile")
    assert.isTrue(readFileSync(path.join(store, "keys", "keystore")).equals(shared), "repair left the providers' keystore alone")
    renameSync(keyfile, `${keyfile}.old`)
    assert.strictEqual(enigma([...a, "recover"]).code, 0)
    assert.strictEqual(enigma([...a, "restore", id, path.join(root, "out")]).code, 0)
    assert.strictEqual(enigma([...a, "verify", "--read-data"]).code, 0)
  })
})
