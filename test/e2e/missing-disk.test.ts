import { assert, describe, it } from "@effect/vitest"
import { mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { enigma, enigmaPipe, initRepo, json, localProviderToml, makeTree, snapshotTree } from "../support/cli.ts"

const oneLine = (s: string) => {
  assert.strictEqual(s.trimEnd().split("\n").length, 1, `one line expected: ${s}`)
  return s.trim()
}

/**
 * A Local provider on a disk that is not mounted: its directory is missing, or its mount point is
 * an empty directory on the disk below. Before, a backup made the directory there and wrote its
 * chunks and log segment into it, reporting them stored: gone from view once the disk came back.
 */
describe("a Local provider whose directory is missing", () => {
  it("stops backup, put and repair in one line naming it, makes nothing, shows it unreachable in status; works again once it is back", () => {
    const { root, g } = initRepo([], `[enigma]\n${localProviderToml("usb", "../mnt/usb/enigma")}`)
    const mount = path.join(root, "mnt", "usb")
    const src = path.join(root, "data")
    makeTree(src)
    const first = json(enigma([...g, "backup", src, "--json"]))

    // Unmounted: the mount point is left, empty.
    renameSync(mount, path.join(root, "away"))
    mkdirSync(mount)
    const says = new RegExp(`directory ${path.join(mount, "enigma").replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} does not exist: is its disk mounted\\?`)
    writeFileSync(path.join(src, "new.txt"), "written while the disk was away")
    for (const args of [["backup", src], ["repair"]]) {
      const r = enigma([...g, ...args])
      assert.strictEqual(r.code, 1, args.join(" "))
      assert.match(oneLine(r.stderr), says)
    }
    const put = enigmaPipe([...g, "put", "dump"], new TextEncoder().encode("a stream"))
    assert.strictEqual(put.code, 1)
    assert.match(oneLine(put.stderr), says)
    const status = json(enigma([...g, "status", "--json"]))
    assert.deepInclude(status.providers[0], { name: "usb", reachable: false })
    assert.match(status.providers[0].error, says)
    assert.deepStrictEqual(readdirSync(mount), [], "nothing written on the disk below the mount point")

    // Mounted again: all is as it was, and the next backup goes where it should.
    rmdirSync(mount)
    renameSync(path.join(root, "away"), mount)
    assert.strictEqual(enigma([...g, "backup", src]).code, 0)
    const out = path.join(root, "out")
    assert.strictEqual(enigma([...g, "restore", "latest", out]).code, 0)
    assert.deepStrictEqual(snapshotTree(path.join(out, "data")), snapshotTree(src))
    assert.strictEqual(enigma([...g, "verify", first.backupId]).code, 0)
  })

  it("a provider that is the mount point itself, the disk away: writers stop (exit 10) naming it, nothing written; a disk replaced on purpose is filled again by repair", () => {
    const { root, g } = initRepo([], `[enigma]\ncopies = 2\n${localProviderToml("usb", "../mnt/usb")}${localProviderToml("nas", "../nas")}`)
    const mount = path.join(root, "mnt", "usb")
    const src = path.join(root, "data")
    makeTree(src)
    assert.strictEqual(enigma([...g, "backup", src]).code, 0)

    // Unmounted: the provider's directory is there, empty, on the disk below.
    renameSync(mount, path.join(root, "away"))
    mkdirSync(mount)
    writeFileSync(path.join(src, "new.txt"), "written while the disk was away")
    const says = new RegExp(`^enigma: no repository at provider usb \\(${mount.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}\\): it holds neither the keystore nor the log .* is its disk mounted`)
    for (const args of [["backup", src], ["gc"], ["forget", "latest"]]) {
      const r = enigma([...g, ...args])
      assert.strictEqual(r.code, 10, `${args.join(" ")}: ${r.stderr}`)
      assert.match(oneLine(r.stderr), says)
    }
    const put = enigmaPipe([...g, "put", "dump"], new TextEncoder().encode("a stream"))
    assert.strictEqual(put.code, 10)
    assert.match(oneLine(put.stderr), says)
    assert.deepStrictEqual(readdirSync(mount, { recursive: true }).filter((n) => !String(n).startsWith("locks")), [], "nothing but the lock's directory written below the mount point")
    // A reader says so once, up front, and reads the other copies.
    const read = enigma([...g, "restore", "latest", path.join(root, "while-away")])
    assert.strictEqual(read.code, 0, read.stderr)
    assert.match(read.stderr, new RegExp(`^warning: provider usb \\(${mount.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}\\) holds none of this repository \\(no keystore, no log\\): is its disk mounted`, "m"))

    // Mounted again: the backup goes where it should.
    rmSync(mount, { recursive: true })
    renameSync(path.join(root, "away"), mount)
    assert.strictEqual(enigma([...g, "backup", src]).code, 0)

    // Replaced by an empty disk on purpose: repair writes it all again from the other copies.
    rmSync(mount, { recursive: true })
    mkdirSync(mount)
    assert.strictEqual(enigma([...g, "backup", src]).code, 10)
    const repaired = json(enigma([...g, "repair", "--json"]))
    assert.deepStrictEqual(repaired.keyfile, ["usb"])
    assert.strictEqual(enigma([...g, "backup", src]).code, 0)
    assert.strictEqual(enigma([...g, "verify", "--read-data"]).code, 0)
    const out = path.join(root, "out")
    assert.strictEqual(enigma([...g, "restore", "latest", out]).code, 0)
    assert.deepStrictEqual(snapshotTree(path.join(out, "data")), snapshotTree(src))
  })

  it("a provider added to the config: its directory is to be made, then repair sets it up", () => {
    const { root, dir, g } = initRepo([], `[enigma]\n${localProviderToml("one")}`)
    const src = path.join(root, "data")
    makeTree(src)
    assert.strictEqual(enigma([...g, "backup", src]).code, 0)
    writeFileSync(path.join(dir, "enigma.toml"), `[enigma]\ncopies = 2\n${localProviderToml("one")}${localProviderToml("two")}`)
    const r = enigma([...g, "repair"])
    assert.strictEqual(r.code, 1)
    assert.match(oneLine(r.stderr), new RegExp(`for a provider new to the config, create it: mkdir -p ${path.join(dir, "two")}`))
    mkdirSync(path.join(dir, "two"))
    const fixed = json(enigma([...g, "repair", "--json"]))
    assert.deepStrictEqual(fixed.keyfile, ["two"])
    assert.isAbove(fixed.copied.length, 0)
    assert.strictEqual(enigma([...g, "verify", "--read-data"]).code, 0)
  })
})
