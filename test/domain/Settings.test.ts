import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { chunkStrategyOf, decodeSettings, defaultSettings, withDefaults } from "../../src/domain/Settings.ts"

describe("Settings (enigma.toml)", () => {
  it("the default config decodes and names a 4 MiB CDC target", () => {
    const r = decodeSettings(defaultSettings("/r"))
    assert.isTrue(Result.isSuccess(r))
    if (Result.isSuccess(r)) assert.deepStrictEqual(chunkStrategyOf(r.success), { _tag: "Cdc", targetSize: 4 * 1024 * 1024 })
  })

  it("fills what a hand-written config leaves out, and keeps what it says", () => {
    const r = decodeSettings(withDefaults({ enigma: { chunk_strategy: { Fixed: { size: 1048576 } } } }, "/r"))
    assert.isTrue(Result.isSuccess(r))
    if (Result.isSuccess(r)) {
      assert.deepStrictEqual(chunkStrategyOf(r.success), { _tag: "Fixed", size: 1048576 })
      assert.strictEqual(r.success.providers[0]!.type, "Local")
    }
  })

  it("names every bad field with its path", () => {
    const raw = withDefaults({
      enigma: { distribution: "Random", compression: { enabled: true, level: 99 }, typo: 1 },
      providers: [{ name: "a", type: "Dropbox", bucket: "x" }]
    }, "/r")
    const r = decodeSettings(raw)
    assert.isTrue(Result.isFailure(r))
    if (Result.isFailure(r)) {
      for (const field of ["enigma.distribution", "enigma.compression.level", "enigma.typo", "providers[0].type"]) {
        assert.include(r.failure, field)
      }
      assert.notInclude(r.failure, "\n")
    }
  })

  it("a provider type in another case is the type it names; an unknown field is called one", () => {
    const r = decodeSettings(withDefaults({
      providers: [
        { name: "a", type: "local", bucket: "/x" },
        { name: "b", type: "S3COMPATIBLE", bucket: "b", endpoint_url: "http://127.0.0.1:9000" },
        { name: "c", type: "MinIO", bucket: "c" },
        { name: "d", type: "gcs", bucket: "d" }
      ]
    }, "/r"))
    assert.isTrue(Result.isSuccess(r))
    if (Result.isSuccess(r)) assert.deepStrictEqual(r.success.providers.map((p) => p.type), ["Local", "S3Compatible", "minio", "Gcs"])

    const typo = decodeSettings(withDefaults({ providers: [{ name: "a", type: "Local", bucket: "/x", path: "/y" }] }, "/r"))
    assert.isTrue(Result.isFailure(typo))
    if (Result.isFailure(typo)) assert.strictEqual(typo.failure, "providers[0].path: unknown field (check its spelling and section; README.md lists the fields)")
  })

  it("duplicate provider names and an empty provider list are refused", () => {
    const dup = decodeSettings(withDefaults({
      providers: [{ name: "a", type: "Local", bucket: "/x" }, { name: "a", type: "Local", bucket: "/y" }]
    }, "/r"))
    assert.isTrue(Result.isFailure(dup))
    assert.isTrue(Result.isFailure(decodeSettings(withDefaults({ providers: [] }, "/r"))))
  })
})
