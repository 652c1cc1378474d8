import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Redacted, Result } from "effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { KeystoreError, WrongPassphrase } from "../../../src/domain/Errors.ts"
import { decodeAnyKeyfile, decodeKeyfile, MAX_SLOTS } from "../../../src/domain/Keystore.ts"
import { decryptCredential, encryptCredential, type KeyRing, Keys } from "../../../src/services/keys/Keys.ts"

const fast = { memory: 8192, passes: 1, parallelism: 1 }
const pass = Redacted.make("correct horse battery staple")
const wrong = Redacted.make("correct horse battery stapler")
const other = Redacted.make("a second passphrase")

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "enigma-keys-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** A temp dir with one created keystore in it (version 1: as builds before passphrase slots wrote it). */
const setup = (kemMode: "embedded" | "split", keyfileVersion: 1 | 2 = 2) =>
  Effect.gen(function*() {
    const dir = yield* tempDir
    const keyfilePath = path.join(dir, "keystore")
    const kemKeyPath = kemMode === "split" ? path.join(dir, "kem.pem") : undefined
    const ring = yield* Keys.use((k) => k.create({ keyfilePath, passphrase: pass, kemMode, kemKey: kemKeyPath, argon: fast, keyfileVersion, label: "alice@laptop" }))
    return { dir, keyfilePath, kemKeyPath, ring }
  })

/** The keyfile's header, whichever its version. */
const headerOf = (bytes: Uint8Array) => {
  const d = decodeAnyKeyfile(bytes)
  if (Result.isFailure(d)) return assert.fail(d.failure)
  return d.success
}

const sameRing = (a: KeyRing, b: KeyRing) => {
  assert.strictEqual(a.repositoryId, b.repositoryId)
  assert.strictEqual(a.kemMode, b.kemMode)
  assert.strictEqual(a.currentKeyId, b.currentKeyId)
  assert.deepStrictEqual(a.keyIds, b.keyIds)
  for (const { id } of a.keyIds) assert.deepStrictEqual(a.dataKey(id), b.dataKey(id))
  assert.deepStrictEqual(a.currentKey, b.currentKey)
  assert.deepStrictEqual(a.chunkIdKey, b.chunkIdKey)
  assert.deepStrictEqual(a.gearSeed, b.gearSeed)
  assert.deepStrictEqual(a.logKey, b.logKey)
}

/** Fails the test unless `eff` failed with one of `tags`; returns the error. */
const failsWith = <A, E extends { readonly _tag: string }, R>(eff: Effect.Effect<A, E, R>, ...tags: Array<string>) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(eff)
    if (Exit.isSuccess(exit)) return assert.fail(`expected ${tags.join(" | ")}, but it succeeded`)
    const err = yield* Effect.flip(exit)
    assert.include(tags, err._tag, String(err))
    return err
  })

const flipByte = (bytes: Uint8Array, at: number) => {
  const out = bytes.slice()
  out[at] = out[at]! ^ 0x01
  return out
}

describe("Keys", () => {
  for (const [kemMode, version] of [["embedded", 2], ["split", 2], ["embedded", 1], ["split", 1]] as const) {
    it.effect(`create + open (${kemMode}, keyfile version ${version}) give back the same keys`, () =>
      Effect.gen(function*() {
        const { keyfilePath, kemKeyPath, ring } = yield* setup(kemMode, version)
        assert.strictEqual(ring.kemMode, kemMode)
        assert.match(ring.repositoryId, /^[0-9a-f]{32}$/)
        assert.strictEqual(ring.currentKeyId, 1)
        assert.strictEqual(ring.currentKey.length, 32)
        assert.strictEqual(ring.chunkIdKey.key.length, 32)
        assert.strictEqual(ring.chunkIdKey.hash, "blake3")
        assert.strictEqual(ring.gearSeed.length, 1024)
        assert.strictEqual(ring.logKey.length, 32)
        assert.notDeepEqual(ring.chunkIdKey.key, ring.logKey)
        assert.isUndefined(ring.dataKey(2))
        assert.deepStrictEqual(ring.sealed, new Uint8Array(fs.readFileSync(keyfilePath)))
        assert.strictEqual(fs.statSync(keyfilePath).mode & 0o777, 0o600)

        const opened = yield* Keys.use((k) => k.open({ keyfilePath, passphrase: pass, kemKey: kemKeyPath }))
        sameRing(opened, ring)
        const fromProvider = yield* Keys.use((k) => k.openBytes(ring.sealed, pass, kemKeyPath))
        sameRing(fromProvider, ring)

        const file = headerOf(ring.sealed)
        assert.strictEqual(file.version, version)
        const first = file.version === 1 ? file.decoded.header : file.decoded.header.slots[0]!
        assert.deepStrictEqual(first.argon, fast)
        assert.strictEqual(first.embedded === undefined, kemMode === "split")
        assert.strictEqual(opened.passphraseId, 1)
        assert.deepStrictEqual(opened.passphrases.map((p) => [p.id, p.label]), [[1, version === 1 ? "" : "alice@laptop"]])
        if (kemMode === "split") {
          assert.strictEqual(fs.statSync(kemKeyPath!).mode & 0o777, 0o600)
          assert.match(fs.readFileSync(kemKeyPath!, "utf8"), /^-----BEGIN PRIVATE KEY-----/)
        }
      }).pipe(Effect.provide(Keys.layer)))

    it.effect(`wrong passphrase fails with WrongPassphrase (${kemMode}, keyfile version ${version})`, () =>
      Effect.gen(function*() {
        const { keyfilePath, kemKeyPath } = yield* setup(kemMode, version)
        const err = yield* failsWith(
          Keys.use((k) => k.open({ keyfilePath, passphrase: wrong, kemKey: kemKeyPath })),
          "WrongPassphrase"
        )
        assert.instanceOf(err, WrongPassphrase)
        assert.include(err.message, keyfilePath)
        if (kemMode === "split") assert.include(err.message, "or wrong ML-KEM key file")
      }).pipe(Effect.provide(Keys.layer)))

    if (version === 1) it.effect(`flipping any header or body byte never opens (${kemMode}, keyfile version 1)`, () =>
      Effect.gen(function*() {
        const { kemKeyPath, ring } = yield* setup(kemMode, 1)
        const bytes = ring.sealed
        const decoded = decodeKeyfile(bytes)
        if (Result.isFailure(decoded)) return assert.fail(decoded.failure)
        const h = decoded.success.headerBytes.length
        const kemEnd = 53 + 1088
        const fpEnd = kemEnd + 16
        const offsets = [0, 7, 8, 9, 10, 12, 13, 14, 17, 18, 19, 50, 51, 52, 53, 600, kemEnd - 1, kemEnd, fpEnd - 1]
        offsets.push(fpEnd, fpEnd + 3) // sealed payload length
        if (kemMode === "embedded") offsets.push(fpEnd + 4, fpEnd + 15, fpEnd + 16, fpEnd + 19, fpEnd + 20, h - 1)
        offsets.push(h, h + 11, h + 12, bytes.length - 17, bytes.length - 1)
        for (const at of offsets) {
          yield* failsWith(
            Keys.use((k) => k.openBytes(flipByte(bytes, at), pass, kemKeyPath)),
            "WrongPassphrase",
            "KeystoreError"
          )
        }
      }).pipe(Effect.provide(Keys.layer)))
  }

  for (const kemMode of ["embedded", "split"] as const) {
    it.effect(`flipping any header or body byte of a two-passphrase keyfile never opens (${kemMode})`, () =>
      Effect.gen(function*() {
        const { keyfilePath, kemKeyPath, ring } = yield* setup(kemMode)
        const bytes = (yield* Keys.use((k) => k.addPassphrase(ring, keyfilePath, pass, other, "bob", kemKeyPath))).sealed
        const file = headerOf(bytes)
        if (file.version !== 2) return assert.fail("expected version 2")
        const h = file.decoded.headerBytes.length
        const offsets = new Set<number>()
        for (let at = 0; at < 56; at++) offsets.add(at) // up to the first slot's salt
        for (let at = 56; at < h; at += 163) offsets.add(at)
        for (let at = h - 24; at < h + 13; at += 2) offsets.add(at) // fingerprint, length, nonce
        if (file.decoded.header.slots[1]!.embedded !== undefined) offsets.add(h - 20 - 48 - 12 - 1) // slot 2's ML-KEM seal
        offsets.add(bytes.length - 17).add(bytes.length - 1)
        for (const at of offsets) {
          for (const p of [pass, other]) {
            yield* failsWith(Keys.use((k) => k.openBytes(flipByte(bytes, at), p, kemKeyPath)), "WrongPassphrase", "KeystoreError")
          }
        }
      }).pipe(Effect.provide(Keys.layer)))

    it.effect(`a second passphrase opens the same keys; passwd and remove change one passphrase only (${kemMode})`, () =>
      Effect.gen(function*() {
        const { keyfilePath, kemKeyPath, ring } = yield* setup(kemMode)
        const open = (p: Redacted.Redacted<string>) => Keys.use((k) => k.open({ keyfilePath, passphrase: p, kemKey: kemKeyPath }))
        const same = yield* failsWith(Keys.use((k) => k.addPassphrase(ring, keyfilePath, pass, pass, "again", kemKeyPath)), "KeystoreError")
        assert.include(same.message, "that passphrase opens the keystore already (passphrase 1)")
        assert.deepStrictEqual(new Uint8Array(fs.readFileSync(keyfilePath)), ring.sealed)
        const added = yield* Keys.use((k) => k.addPassphrase(ring, keyfilePath, pass, other, "bob@desk", kemKeyPath))
        assert.deepStrictEqual(new Uint8Array(fs.readFileSync(keyfilePath)), added.sealed)
        assert.deepStrictEqual(added.ring.passphrases.map((p) => [p.id, p.label]), [[1, "alice@laptop"], [2, "bob@desk"]])
        const byAlice = yield* open(pass)
        const byBob = yield* open(other)
        sameRing(byAlice, ring)
        sameRing(byBob, ring)
        assert.strictEqual(byAlice.passphraseId, 1)
        assert.strictEqual(byBob.passphraseId, 2)
        yield* failsWith(open(wrong), "WrongPassphrase")

        // Bob rotates a data key: Alice's passphrase opens the result too.
        const rotated = yield* Keys.use((k) => k.rotate(byBob, keyfilePath, other, kemKeyPath))
        sameRing(yield* open(pass), rotated.ring)
        const slotsBefore = headerOf(added.sealed)
        const slotsAfter = headerOf(rotated.sealed)
        if (slotsBefore.version !== 2 || slotsAfter.version !== 2) return assert.fail("expected version 2")
        assert.deepStrictEqual(slotsAfter.decoded.header.slots, slotsBefore.decoded.header.slots)

        // Not to Alice's: a passphrase that opens the keystore already is refused.
        const taken = yield* failsWith(Keys.use((k) => k.changePassphrase(rotated.ring, keyfilePath, other, pass, kemKeyPath)), "KeystoreError")
        assert.include(taken.message, "that passphrase opens the keystore already (passphrase 1)")
        // Bob changes his passphrase: his old one stops opening, Alice's goes on.
        const changed = yield* Keys.use((k) => k.changePassphrase(rotated.ring, keyfilePath, other, wrong, kemKeyPath))
        assert.strictEqual(changed.ring.passphraseId, 2)
        yield* failsWith(open(other), "WrongPassphrase")
        sameRing(yield* open(wrong), rotated.ring)
        sameRing(yield* open(pass), rotated.ring)

        // Removing the passphrase given, or one that is not there, refuses and changes nothing.
        const own = yield* failsWith(Keys.use((k) => k.removePassphrase(changed.ring, keyfilePath, pass, 1, kemKeyPath)), "KeystoreError")
        assert.include(own.message, "is the one given")
        const absent = yield* failsWith(Keys.use((k) => k.removePassphrase(changed.ring, keyfilePath, pass, 5, kemKeyPath)), "KeystoreError")
        assert.include(absent.message, "no passphrase 5")
        assert.deepStrictEqual(new Uint8Array(fs.readFileSync(keyfilePath)), changed.sealed)

        const removed = yield* Keys.use((k) => k.removePassphrase(changed.ring, keyfilePath, pass, 2, kemKeyPath))
        assert.deepStrictEqual(removed.ring.passphrases.map((p) => p.id), [1])
        yield* failsWith(open(wrong), "WrongPassphrase")
        sameRing(yield* open(pass), rotated.ring)
        const twice = yield* failsWith(Keys.use((k) => k.addPassphrase(removed.ring, keyfilePath, pass, pass, "again", kemKeyPath)), "KeystoreError")
        assert.include(twice.message, "(passphrase 1)")
        // Ids are not reused: the next passphrase is 3.
        const third = yield* Keys.use((k) => k.addPassphrase(removed.ring, keyfilePath, pass, other, "carol", kemKeyPath))
        assert.deepStrictEqual(third.ring.passphrases.map((p) => p.id), [1, 3])
        assert.strictEqual((yield* open(other)).passphraseId, 3)
      }).pipe(Effect.provide(Keys.layer)))
  }

  it.effect("a version 1 keyfile gets passphrase slots when a passphrase is added, and keeps its keys", () =>
    Effect.gen(function*() {
      const { keyfilePath, ring } = yield* setup("embedded", 1)
      const added = yield* Keys.use((k) => k.addPassphrase(ring, keyfilePath, pass, other, "bob"))
      assert.strictEqual(headerOf(added.sealed).version, 2)
      const byOld = yield* Keys.use((k) => k.open({ keyfilePath, passphrase: pass }))
      sameRing(byOld, ring)
      sameRing(yield* Keys.use((k) => k.open({ keyfilePath, passphrase: other })), ring)
      assert.deepStrictEqual(byOld.passphrases.map((p) => [p.id, p.label]), [[1, ""], [2, "bob"]])
      // Rotation and passwd of a version 1 keyfile write version 2 too.
      for (const change of [
        (r: KeyRing, f: string) => Keys.use((k) => k.rotate(r, f, pass)),
        (r: KeyRing, f: string) => Keys.use((k) => k.changePassphrase(r, f, pass, wrong))
      ]) {
        const v1 = yield* setup("embedded", 1)
        const r = yield* change(v1.ring, v1.keyfilePath)
        assert.strictEqual(headerOf(r.sealed).version, 2)
        assert.deepStrictEqual(r.ring.dataKey(1), v1.ring.dataKey(1))
      }
    }).pipe(Effect.provide(Keys.layer)))

  it.effect(`a keystore holds at most ${MAX_SLOTS} passphrases; an empty one is refused`, () =>
    Effect.gen(function*() {
      const { keyfilePath, ring } = yield* setup("embedded")
      let current = ring
      for (let i = 2; i <= MAX_SLOTS; i++) {
        current = (yield* Keys.use((k) => k.addPassphrase(current, keyfilePath, pass, Redacted.make(`p${i}`), `p${i}`))).ring
      }
      assert.strictEqual(current.passphrases.length, MAX_SLOTS)
      const full = yield* failsWith(Keys.use((k) => k.addPassphrase(current, keyfilePath, pass, other, "one too many")), "KeystoreError")
      assert.include(full.message, `already has ${MAX_SLOTS} passphrases`)
      const empty = yield* failsWith(Keys.use((k) => k.addPassphrase(current, keyfilePath, pass, Redacted.make(""), "empty")), "KeystoreError")
      assert.include(empty.message, "empty passphrase")
      // The last slot opens (every slot before it was tried and skipped).
      assert.strictEqual((yield* Keys.use((k) => k.open({ keyfilePath, passphrase: Redacted.make(`p${MAX_SLOTS}`) }))).passphraseId, MAX_SLOTS)
    }).pipe(Effect.provide(Keys.layer)))

  it.effect("a repository with HMAC-SHA256 ids (made before BLAKE3 ids) keeps them, through open and rotation", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const keyfilePath = path.join(dir, "keystore")
      const ring = yield* Keys.use((k) => k.create({ keyfilePath, passphrase: pass, kemMode: "embedded", argon: fast, chunkIdHash: "hmac-sha256" }))
      assert.strictEqual(ring.chunkIdKey.hash, "hmac-sha256")
      const opened = yield* Keys.use((k) => k.open({ keyfilePath, passphrase: pass }))
      sameRing(opened, ring)
      const rotated = yield* Keys.use((k) => k.rotate(ring, keyfilePath, pass))
      assert.deepStrictEqual(rotated.ring.chunkIdKey, ring.chunkIdKey)
      const fresh = yield* setup("embedded")
      assert.strictEqual(fresh.ring.chunkIdKey.hash, "blake3")
    }).pipe(Effect.provide(Keys.layer)))

  it.effect("the passphrase is compared after Unicode NFC normalisation", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const keyfilePath = path.join(dir, "keystore")
      const nfc = Redacted.make("pass\u00e9")
      const nfd = Redacted.make("passe\u0301")
      yield* Keys.use((k) => k.create({ keyfilePath, passphrase: nfc, kemMode: "embedded", argon: fast }))
      yield* Keys.use((k) => k.open({ keyfilePath, passphrase: nfd }))
    }).pipe(Effect.provide(Keys.layer)))

  it.effect("split mode: the keyfile alone (even with the right passphrase) does not open", () =>
    Effect.gen(function*() {
      const { keyfilePath, ring } = yield* setup("split")
      const err = yield* failsWith(Keys.use((k) => k.open({ keyfilePath, passphrase: pass })), "KeystoreError")
      assert.include(err.message, "separate key file")
      yield* failsWith(Keys.use((k) => k.openBytes(ring.sealed, pass)), "KeystoreError")
      // Relabelling the file as embedded does not help: the header is authenticated and has no key.
      const relabelled = ring.sealed.slice()
      relabelled[9] = 0
      yield* failsWith(Keys.use((k) => k.openBytes(relabelled, pass)), "KeystoreError", "WrongPassphrase")
    }).pipe(Effect.provide(Keys.layer)))

  it.effect("split mode: a missing or unreadable ML-KEM key file is a KeystoreError", () =>
    Effect.gen(function*() {
      const { dir, keyfilePath } = yield* setup("split")
      const missing = path.join(dir, "nope.pem")
      const err = yield* failsWith(
        Keys.use((k) => k.open({ keyfilePath, passphrase: pass, kemKey: missing })),
        "KeystoreError"
      )
      assert.include(err.message, "does not exist")
      assert.include(err.message, missing)

      const junk = path.join(dir, "junk.pem")
      fs.writeFileSync(junk, "not a key")
      yield* failsWith(Keys.use((k) => k.open({ keyfilePath, passphrase: pass, kemKey: junk })), "KeystoreError")
      const ec = path.join(dir, "ec.pem")
      fs.writeFileSync(
        ec,
        crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" })
      )
      const notKem = yield* failsWith(
        Keys.use((k) => k.open({ keyfilePath, passphrase: pass, kemKey: ec })),
        "KeystoreError"
      )
      assert.include(notKem.message, "ML-KEM-768")
    }).pipe(Effect.provide(Keys.layer)))

  it.effect("split mode: another repository's ML-KEM key file is recognised as such", () =>
    Effect.gen(function*() {
      const a = yield* setup("split")
      const b = yield* setup("split")
      const err = yield* failsWith(
        Keys.use((k) => k.open({ keyfilePath: a.keyfilePath, passphrase: pass, kemKey: b.kemKeyPath })),
        "KeystoreError"
      )
      assert.instanceOf(err, KeystoreError)
      assert.include(err.message, "belongs to another repository")
      // DER works as well as PEM.
      const der = path.join(a.dir, "kem.der")
      fs.writeFileSync(der, crypto.createPrivateKey(fs.readFileSync(a.kemKeyPath!)).export({ format: "der", type: "pkcs8" }))
      const ring = yield* Keys.use((k) => k.open({ keyfilePath: a.keyfilePath, passphrase: pass, kemKey: der }))
      sameRing(ring, a.ring)
      assert.notStrictEqual(a.ring.repositoryId, b.ring.repositoryId)
      assert.notDeepEqual(a.ring.chunkIdKey, b.ring.chunkIdKey)
    }).pipe(Effect.provide(Keys.layer)))

  it.effect("missing, truncated and garbage keyfiles are KeystoreErrors naming the file", () =>
    Effect.gen(function*() {
      const { dir, keyfilePath, ring } = yield* setup("embedded")
      const missing = yield* failsWith(
        Keys.use((k) => k.open({ keyfilePath: path.join(dir, "absent"), passphrase: pass })),
        "KeystoreError"
      )
      assert.include(missing.message, "absent")
      assert.include(missing.message, "does not exist")

      for (const n of [0, 5, 9, 40, 100, 1200, ring.sealed.length - 40, ring.sealed.length - 1]) {
        fs.writeFileSync(keyfilePath, ring.sealed.subarray(0, n))
        const err = yield* failsWith(Keys.use((k) => k.open({ keyfilePath, passphrase: pass })), "KeystoreError")
        assert.include(err.message, keyfilePath)
      }
      fs.writeFileSync(keyfilePath, crypto.randomBytes(4000))
      const garbage = yield* failsWith(Keys.use((k) => k.open({ keyfilePath, passphrase: pass })), "KeystoreError")
      assert.include(garbage.message, "bad magic")
      fs.writeFileSync(keyfilePath, Buffer.concat([ring.sealed.subarray(0, 20), crypto.randomBytes(4000)]))
      yield* failsWith(Keys.use((k) => k.open({ keyfilePath, passphrase: pass })), "KeystoreError", "WrongPassphrase")
    }).pipe(Effect.provide(Keys.layer)))

  it.effect("a second create on an existing path refuses and leaves the keystore intact", () =>
    Effect.gen(function*() {
      const { dir, keyfilePath, kemKeyPath, ring } = yield* setup("split")
      const again = yield* failsWith(
        Keys.use((k) =>
          k.create({ keyfilePath, passphrase: wrong, kemMode: "embedded", argon: fast })
        ),
        "KeystoreError"
      )
      assert.include(again.message, "already exists")
      // An existing ML-KEM key file is never overwritten either.
      yield* failsWith(
        Keys.use((k) =>
          k.create({ keyfilePath: path.join(dir, "other"), passphrase: pass, kemMode: "split", kemKey: kemKeyPath, argon: fast })
        ),
        "KeystoreError"
      )
      assert.isFalse(fs.existsSync(path.join(dir, "other")))
      yield* failsWith(
        Keys.use((k) => k.create({ keyfilePath: path.join(dir, "x"), passphrase: pass, kemMode: "split", argon: fast })),
        "KeystoreError"
      )
      assert.deepStrictEqual(new Uint8Array(fs.readFileSync(keyfilePath)), ring.sealed)
      sameRing(yield* Keys.use((k) => k.open({ keyfilePath, passphrase: pass, kemKey: kemKeyPath })), ring)
      assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["kem.pem", "keystore"])
    }).pipe(Effect.provide(Keys.layer)))

  for (const kemMode of ["embedded", "split"] as const) {
    it.effect(`rotate adds a current key and keeps the old ones readable (${kemMode})`, () =>
      Effect.gen(function*() {
        const { dir, keyfilePath, kemKeyPath, ring } = yield* setup(kemMode)
        const r1 = yield* Keys.use((k) => k.rotate(ring, keyfilePath, pass, kemKeyPath))
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), kemMode === "split" ? ["kem.pem", "keystore"] : ["keystore"])
        assert.strictEqual(fs.statSync(keyfilePath).mode & 0o777, 0o600)
        assert.strictEqual(r1.ring.currentKeyId, 2)
        assert.deepStrictEqual(r1.ring.keyIds.map((k) => k.id), [1, 2])
        assert.deepStrictEqual(r1.ring.dataKey(1), ring.dataKey(1))
        assert.notDeepEqual(r1.ring.dataKey(2), ring.dataKey(1))
        assert.deepStrictEqual(r1.ring.currentKey, r1.ring.dataKey(2))
        assert.deepStrictEqual(r1.ring.chunkIdKey, ring.chunkIdKey)
        assert.deepStrictEqual(r1.ring.gearSeed, ring.gearSeed)
        assert.deepStrictEqual(r1.ring.logKey, ring.logKey)
        assert.deepStrictEqual(r1.sealed, r1.ring.sealed)
        assert.deepStrictEqual(new Uint8Array(fs.readFileSync(keyfilePath)), r1.sealed)

        // The passphrase slot and ML-KEM key pair stay; the payload is sealed afresh.
        const before = headerOf(ring.sealed)
        const after = headerOf(r1.sealed)
        if (before.version !== 2 || after.version !== 2) return assert.fail("expected version 2")
        assert.deepStrictEqual(after.decoded.header.slots, before.decoded.header.slots)
        assert.deepStrictEqual(after.decoded.header.ekFingerprint, before.decoded.header.ekFingerprint)
        assert.notDeepEqual(after.decoded.nonce, before.decoded.nonce)

        sameRing(yield* Keys.use((k) => k.open({ keyfilePath, passphrase: pass, kemKey: kemKeyPath })), r1.ring)
        // Rotating with the stale ring keeps the key added in between.
        const r2 = yield* Keys.use((k) => k.rotate(ring, keyfilePath, pass, kemKeyPath))
        assert.strictEqual(r2.ring.currentKeyId, 3)
        assert.deepStrictEqual(r2.ring.dataKey(2), r1.ring.dataKey(2))
        assert.deepStrictEqual(r2.ring.dataKey(1), ring.dataKey(1))
      }).pipe(Effect.provide(Keys.layer)))
  }

  it.effect("rotate with a wrong passphrase fails and leaves the keyfile unchanged", () =>
    Effect.gen(function*() {
      const { keyfilePath, ring } = yield* setup("embedded")
      yield* failsWith(Keys.use((k) => k.rotate(ring, keyfilePath, wrong)), "WrongPassphrase")
      assert.deepStrictEqual(new Uint8Array(fs.readFileSync(keyfilePath)), ring.sealed)
    }).pipe(Effect.provide(Keys.layer)))

  it.effect("rotate refuses a keyfile of another repository", () =>
    Effect.gen(function*() {
      const a = yield* setup("embedded")
      const b = yield* setup("embedded")
      const err = yield* failsWith(Keys.use((k) => k.rotate(a.ring, b.keyfilePath, pass)), "KeystoreError")
      assert.include(err.message, "not to the open repository")
      assert.deepStrictEqual(new Uint8Array(fs.readFileSync(b.keyfilePath)), b.ring.sealed)
    }).pipe(Effect.provide(Keys.layer)))
})

describe("credential tokens", () => {
  it.effect("round-trip, with a fresh salt each time", () =>
    Effect.gen(function*() {
      const secret = "AKIA/ünïcødé+secret=="
      const t1 = yield* encryptCredential(secret, pass)
      const t2 = yield* encryptCredential(secret, pass)
      assert.match(t1, /^enc:[A-Za-z0-9_-]+$/)
      assert.notStrictEqual(t1, t2)
      assert.strictEqual(yield* decryptCredential(t1, pass), secret)
      assert.strictEqual(yield* Keys.use((k) => k.decryptCredential(t2, pass)), secret)
      assert.strictEqual(yield* decryptCredential(yield* encryptCredential("", pass), pass), "")
    }).pipe(Effect.provide(Keys.layer)))

  it.effect("a wrong passphrase fails with WrongPassphrase naming the source", () =>
    Effect.gen(function*() {
      const token = yield* encryptCredential("secret", pass)
      const err = yield* failsWith(decryptCredential(token, wrong, "config.toml providers.s3.secretKey"), "WrongPassphrase")
      assert.include(err.message, "providers.s3.secretKey")
    }))

  it.effect("a tampered token fails", () =>
    Effect.gen(function*() {
      const token = yield* encryptCredential("secret", pass)
      const body = token.slice(4)
      for (const at of [0, 20, 40, body.length - 2]) {
        const c = body[at] === "A" ? "B" : "A"
        const tampered = "enc:" + body.slice(0, at) + c + body.slice(at + 1)
        yield* failsWith(decryptCredential(tampered, pass), "WrongPassphrase", "KeystoreError")
      }
      yield* failsWith(decryptCredential(token.slice(0, -4), pass), "WrongPassphrase", "KeystoreError")
    }))

  it.effect("malformed tokens are KeystoreErrors", () =>
    Effect.gen(function*() {
      for (const bad of ["plain", "enc:", "enc:!!!!", "enc:AAAA", "ENC:" + "A".repeat(80)]) {
        const err = yield* failsWith(decryptCredential(bad, pass), "KeystoreError")
        assert.include(err.message, "malformed credential token")
      }
    }))
})
