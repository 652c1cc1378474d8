import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { chunkStrategyOf, decodeSettings, defaultSettings, sharedStorageProblem, withDefaults } from "../../src/domain/Settings.ts"

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

  it("a bad chunk_strategy is named once, by the table the config gives, not by both branches", () => {
    const failure = (chunk_strategy: unknown) => {
      const base = withDefaults({}, "/r") as { enigma: Record<string, unknown> }
      const r = decodeSettings({ ...base, enigma: { ...base.enigma, chunk_strategy } })
      return Result.isFailure(r) ? r.failure : "ok"
    }
    assert.strictEqual(failure({ Cdc: { target_size: "big" } }), "enigma.chunk_strategy.Cdc.target_size: Expected number")
    assert.strictEqual(failure({ Fixed: { size: 10 } }), "enigma.chunk_strategy.Fixed.size: Expected a value between 256 and 1073741824")
    assert.strictEqual(failure({ Cdc: { target_size: 4096, typo: 1 } }), "enigma.chunk_strategy.Cdc.typo: unknown field (check its spelling and section; README.md lists the fields)")
    for (const both of [{ Cdc: { target_size: 4096 }, Fixed: { size: 4096 } }, { Rabin: {} }, {}]) {
      assert.strictEqual(failure(both), "enigma.chunk_strategy: give one table, [enigma.chunk_strategy.Cdc] with target_size or [enigma.chunk_strategy.Fixed] with size (in bytes)")
    }
    assert.strictEqual(failure({ Cdc: { target_size: 4096 } }), "ok")
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

  it("two providers storing in one place (a Local directory, one inside another, a bucket at one endpoint) are named; separate places pass", () => {
    const local = (name: string, bucket: string) => ({ name, type: "Local" as const, bucket })
    const s3 = (name: string, bucket: string, endpoint_url?: string, type: "S3Compatible" | "minio" | "S3" = "S3Compatible") =>
      ({ name, type, bucket, ...(endpoint_url !== undefined ? { endpoint_url } : {}) })
    const azure = (name: string, account: string) => ({ name, type: "Azure" as const, bucket: "c", access_key: account })
    const suffix = "a second copy there is no copy at all: give each provider a place of its own"
    for (const [providers, problem] of [
      [[local("a", "/d/s1"), local("b", "/d/s1/")], `providers: "a" and "b" both store in directory /d/s1; ${suffix}`],
      [[local("a", "/d/s1"), local("b", "/d/x/../s1")], `providers: "a" and "b" both store in directory /d/s1; ${suffix}`],
      [[local("a", "/d/s1"), local("b", "/d/s1/sub")], `providers: "a" and "b" both store in directories /d/s1 and /d/s1/sub, one inside the other; ${suffix}`],
      [[local("a", "/d/s1"), s3("b", "b1", "http://h:1"), s3("c", "b1", "http://h:1", "minio")], `providers: "b" and "c" both store in bucket b1; ${suffix}`],
      [[local("a", "/d/s1"), local("b", "/d/s10"), s3("c", "b1", "http://h:1"), s3("d", "b1", "http://h:2"), s3("e", "b1"), azure("f", "one"), azure("g", "two")], undefined]
    ] as const) {
      assert.strictEqual(sharedStorageProblem(providers), problem)
    }
  })
})
