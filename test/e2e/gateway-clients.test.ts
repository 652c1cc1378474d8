import { assert, describe, it } from "@effect/vitest"
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { initRepo, makeTree, prng, snapshotTree, tempDir } from "../support/cli.ts"
import { debianBinary } from "../support/debian.ts"
import { clientEnv, hashTree, makeObjectTree, ok, run, sha256 } from "../support/clients.ts"
import { accessKey as proxyAccessKey, secretKey as proxySecretKey, startProxy, stopProxy } from "../support/gateway.ts"
import { freePort } from "../support/server.ts"

/**
 * Real S3 clients from Debian's packages (aws-cli 2, rclone, s3cmd, restic) against `enigma proxy`:
 * each writes through the gateway, reads back and compares with what it wrote.
 */

/** Small content-defined chunks, so a few MiB make many chunks. */
const smallChunks = "[enigma.chunk_strategy.Cdc]\ntarget_size = 262144\n"

/** "An error occurred (NoSuchKey) when calling…" → NoSuchKey (aws-cli prints the HTTP status for HEAD). */
const awsErrorCode = (stderr: string) => /An error occurred \(([^)]+)\)/.exec(stderr)?.[1]

describe("real S3 clients against enigma proxy", () => {
  let repo: ReturnType<typeof initRepo>
  let port: number
  let endpoint: string
  let proxy: Awaited<ReturnType<typeof startProxy>>
  let work: string
  const bin = { aws: "", rclone: "", s3cmd: "", restic: "" }

  beforeAll(async () => {
    // Installed from Debian's packages when missing (CI starts on a bare machine).
    bin.aws = debianBinary("aws", "awscli")
    bin.rclone = debianBinary("rclone")
    bin.s3cmd = debianBinary("s3cmd")
    bin.restic = debianBinary("restic")
    repo = initRepo([], smallChunks)
    work = tempDir("enigma-clients-")
    port = await freePort()
    endpoint = `http://127.0.0.1:${port}`
    proxy = await startProxy(repo.g, port)
  }, 900_000)
  afterAll(async () => {
    if (proxy) await stopProxy(proxy.child)
  })

  describe("aws-cli", () => {
    const awsConfig = () => {
      const file = path.join(work, "aws-config")
      // Explicit thresholds, so the 50 MiB copy is a multipart upload of 7 parts.
      writeFileSync(file, "[default]\nregion = us-east-1\ns3 =\n  multipart_threshold = 8MB\n  multipart_chunksize = 8MB\n")
      return file
    }
    const aws = (args: ReadonlyArray<string>, keys = { id: proxyAccessKey, secret: proxySecretKey }) =>
      run(bin.aws, ["--endpoint-url", endpoint, "--no-cli-pager", ...args], {
        cwd: work,
        env: clientEnv({
          AWS_ACCESS_KEY_ID: keys.id,
          AWS_SECRET_ACCESS_KEY: keys.secret,
          AWS_DEFAULT_REGION: "us-east-1",
          AWS_CONFIG_FILE: awsConfig(),
          AWS_SHARED_CREDENTIALS_FILE: path.join(work, "no-aws-credentials"),
          AWS_EC2_METADATA_DISABLED: "true"
        })
      })
    /** `aws s3 ls` lines → [size, key] (directories as `PRE name/`). */
    const lsLines = (stdout: string) =>
      stdout.split("\n").filter((l) => l.trim() !== "").map((l) => {
        const pre = /^\s+PRE (.*)$/.exec(l)
        if (pre) return `PRE ${pre[1]}`
        const m = /^\S+ \S+\s+(\d+) (.*)$/.exec(l)
        return m ? `${m[1]} ${m[2]}` : `? ${l}`
      })

    it("s3 mb, s3 cp of a 50 MiB file (multipart) and back: the same bytes", async () => {
      ok(await aws(["s3", "mb", "s3://aws-cli"]), "aws s3 mb")
      const big = prng(50)(50 * 1024 * 1024 + 4321)
      writeFileSync(path.join(work, "big.bin"), big)
      ok(await aws(["s3", "cp", "--only-show-errors", "big.bin", "s3://aws-cli/big/big.bin"]), "aws s3 cp (upload, multipart)")
      const head = JSON.parse(ok(await aws(["s3api", "head-object", "--bucket", "aws-cli", "--key", "big/big.bin"]), "aws s3api head-object").stdout)
      assert.strictEqual(head.ContentLength, big.length)
      // Seven 8 MiB parts: the ETag of a multipart upload, MD5 of the part MD5s, "-7".
      assert.match(head.ETag, /^"[0-9a-f]{32}-7"$/)
      ok(await aws(["s3", "cp", "--only-show-errors", "s3://aws-cli/big/big.bin", "big.back"]), "aws s3 cp (download)")
      assert.strictEqual(sha256(readFileSync(path.join(work, "big.back"))), sha256(big))
    }, 300_000)

    it("s3 sync a tree up and down (the same files), again (nothing to do), and after a change (only it)", async () => {
      const tree = path.join(work, "aws-tree")
      makeObjectTree(tree)
      ok(await aws(["s3", "sync", "--only-show-errors", tree, "s3://aws-cli/tree"]), "aws s3 sync (up)")
      const down = path.join(work, "aws-tree-down")
      ok(await aws(["s3", "sync", "--only-show-errors", "s3://aws-cli/tree", down]), "aws s3 sync (down)")
      assert.deepStrictEqual(hashTree(down), hashTree(tree))
      // Sizes and times listed by the gateway match: a second sync uploads nothing.
      assert.strictEqual(ok(await aws(["s3", "sync", tree, "s3://aws-cli/tree"]), "aws s3 sync (again)").stdout.trim(), "")
      writeFileSync(path.join(tree, "docs", "a.txt"), "changed, and longer than before\n")
      rmSync(path.join(tree, "media", "clip.bin"))
      const changed = ok(await aws(["s3", "sync", "--delete", tree, "s3://aws-cli/tree"]), "aws s3 sync --delete").stdout
      // (Progress lines end in \r, not \n.)
      assert.deepStrictEqual(changed.split(/[\r\n]/).filter((l) => /^(upload|delete):/.test(l)).map((l) => l.split(" ")[0]).sort(), ["delete:", "upload:"])
      rmSync(down, { recursive: true })
      ok(await aws(["s3", "sync", "--only-show-errors", "s3://aws-cli/tree", down]), "aws s3 sync (down again)")
      assert.deepStrictEqual(hashTree(down), hashTree(tree))
    }, 300_000)

    it("s3 ls lists buckets, one level with PRE folders, and everything with --recursive", async () => {
      assert.include(lsLines(ok(await aws(["s3", "ls"]), "aws s3 ls").stdout).join("\n"), "aws-cli")
      assert.deepStrictEqual(lsLines(ok(await aws(["s3", "ls", "s3://aws-cli/tree/"]), "aws s3 ls (folder)").stdout), [
        "PRE docs/",
        "PRE media/",
        "0 empty",
        `${"objects written by a real S3 client\n".length} readme.txt`
      ])
      const tree = hashTree(path.join(work, "aws-tree"))
      const all = lsLines(ok(await aws(["s3", "ls", "--recursive", "s3://aws-cli/tree/"]), "aws s3 ls --recursive").stdout)
      const expected = Object.keys(tree).map((k) => `${statSync(path.join(work, "aws-tree", k)).size} tree/${k}`).sort()
      assert.deepStrictEqual([...all].sort(), expected)
    }, 120_000)

    it("s3 rm removes one object and a whole prefix; s3 rb then removes the empty bucket", async () => {
      ok(await aws(["s3", "cp", "--only-show-errors", path.join(work, "aws-tree", "readme.txt"), "s3://aws-cli/rm/one.txt"]), "aws s3 cp")
      ok(await aws(["s3api", "head-object", "--bucket", "aws-cli", "--key", "rm/one.txt"]), "aws s3api head-object")
      ok(await aws(["s3", "rm", "s3://aws-cli/rm/one.txt"]), "aws s3 rm")
      assert.strictEqual(awsErrorCode((await aws(["s3api", "head-object", "--bucket", "aws-cli", "--key", "rm/one.txt"])).stderr), "404")
      // (Whatever the 50 MiB test left.)
      ok(await aws(["s3", "rm", "--recursive", "s3://aws-cli/big/"]), "aws s3 rm --recursive")
      // Not empty yet.
      const notEmpty = await aws(["s3api", "delete-bucket", "--bucket", "aws-cli"])
      assert.strictEqual(awsErrorCode(notEmpty.stderr), "BucketNotEmpty", notEmpty.stderr)
      ok(await aws(["s3", "rm", "--recursive", "s3://aws-cli/tree/"]), "aws s3 rm --recursive")
      assert.strictEqual(ok(await aws(["s3", "ls", "--recursive", "s3://aws-cli/"]), "aws s3 ls").stdout.trim(), "")
      ok(await aws(["s3", "rb", "s3://aws-cli"]), "aws s3 rb")
      assert.notInclude(ok(await aws(["s3", "ls"]), "aws s3 ls").stdout, "aws-cli")
    }, 120_000)

    it("s3api reports the gateway's error codes", async () => {
      ok(await aws(["s3api", "create-bucket", "--bucket", "aws-errors"]), "aws s3api create-bucket")
      ok(await aws(["s3api", "put-object", "--bucket", "aws-errors", "--key", "k", "--body", path.join(work, "aws-tree", "readme.txt")]), "aws s3api put-object")
      const code = async (args: ReadonlyArray<string>, keys?: { id: string; secret: string }) => {
        const r = await aws(args, keys)
        assert.notStrictEqual(r.code, 0, `${args.join(" ")} should have failed`)
        return awsErrorCode(r.stderr)
      }
      const out = path.join(work, "error-out")
      assert.strictEqual(await code(["s3api", "get-object", "--bucket", "aws-errors", "--key", "missing", out]), "NoSuchKey")
      assert.strictEqual(await code(["s3api", "get-object", "--bucket", "no-such-bucket", "--key", "k", out]), "NoSuchBucket")
      assert.strictEqual(await code(["s3api", "head-object", "--bucket", "aws-errors", "--key", "missing"]), "404")
      assert.strictEqual(await code(["s3api", "head-bucket", "--bucket", "no-such-bucket"]), "404")
      assert.strictEqual(await code(["s3api", "get-object", "--bucket", "aws-errors", "--key", "k", "--range", "bytes=100000-", out]), "InvalidRange")
      assert.strictEqual(await code(["s3api", "create-bucket", "--bucket", "aws-errors"]), "BucketAlreadyOwnedByYou")
      assert.strictEqual(await code(["s3api", "delete-bucket", "--bucket", "aws-errors"]), "BucketNotEmpty")
      assert.strictEqual(await code(["s3", "cp", "--storage-class", "STANDARD_IA", path.join(work, "aws-tree", "readme.txt"), "s3://aws-errors/k"]), "InvalidStorageClass")
      assert.strictEqual(await code(["s3api", "list-objects-v2", "--bucket", "aws-errors"], { id: proxyAccessKey, secret: "wrong-secret" }), "SignatureDoesNotMatch")
      assert.strictEqual(await code(["s3api", "list-objects-v2", "--bucket", "aws-errors"], { id: "nobody", secret: proxySecretKey }), "InvalidAccessKeyId")
      // The object is untouched by all of that.
      ok(await aws(["s3api", "get-object", "--bucket", "aws-errors", "--key", "k", out]), "aws s3api get-object")
      assert.strictEqual(readFileSync(out, "utf8"), "objects written by a real S3 client\n")
    }, 120_000)
  })

  describe("rclone", () => {
    const rclone = (args: ReadonlyArray<string>) => {
      const conf = path.join(work, "rclone.conf")
      writeFileSync(conf, [
        "[gw]",
        "type = s3",
        "provider = Other",
        `access_key_id = ${proxyAccessKey}`,
        `secret_access_key = ${proxySecretKey}`,
        `endpoint = ${endpoint}`,
        "region = us-east-1",
        ""
      ].join("\n"))
      return run(bin.rclone, ["--config", conf, "--retries", "1", "--low-level-retries", "1", ...args], { cwd: work, env: clientEnv({}) })
    }

    it("copy a tree up, check it (sizes and MD5s), copy it back: the same files and times", async () => {
      const tree = path.join(work, "rclone-tree")
      makeObjectTree(tree, 11)
      ok(await rclone(["mkdir", "gw:rclone"]), "rclone mkdir")
      ok(await rclone(["copy", tree, "gw:rclone/tree"]), "rclone copy (up)")
      const check = ok(await rclone(["check", tree, "gw:rclone/tree"]), "rclone check")
      assert.include(check.stderr, "0 differences found")
      assert.include(check.stderr, `${Object.keys(hashTree(tree)).length} matching files`)
      const back = path.join(work, "rclone-back")
      ok(await rclone(["copy", "gw:rclone/tree", back]), "rclone copy (down)")
      assert.deepStrictEqual(hashTree(back), hashTree(tree))
      // rclone keeps modification times in x-amz-meta-mtime: the gateway must give them back.
      for (const rel of Object.keys(hashTree(tree))) {
        assert.strictEqual(Math.round(statSync(path.join(back, rel)).mtimeMs), Math.round(statSync(path.join(tree, rel)).mtimeMs), rel)
      }
    }, 300_000)

    it("check finds a file changed on one side; a multipart copy (upload cutoff 5 MiB) comes back whole", async () => {
      const tree = path.join(work, "rclone-tree")
      writeFileSync(path.join(tree, "docs", "a.txt"), "b\n".repeat(1000)) // same size, other content
      const check = await rclone(["check", tree, "gw:rclone/tree"])
      assert.strictEqual(check.code, 1, check.stderr)
      assert.include(check.stderr, "1 differences found")

      const big = path.join(work, "rclone-big")
      mkdirSync(big)
      writeFileSync(path.join(big, "twelve.bin"), prng(12)(12 * 1024 * 1024 + 1))
      ok(await rclone(["copy", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", big, "gw:rclone/big"]), "rclone copy (multipart)")
      ok(await rclone(["check", "--download", big, "gw:rclone/big"]), "rclone check --download")
      const back = path.join(work, "rclone-big-back")
      ok(await rclone(["copy", "gw:rclone/big", back]), "rclone copy (multipart object down)")
      assert.deepStrictEqual(hashTree(back), hashTree(big))
    }, 300_000)
  })

  describe("s3cmd", () => {
    const s3cmd = (args: ReadonlyArray<string>) => {
      const conf = path.join(work, "s3cfg")
      writeFileSync(conf, [
        "[default]",
        `access_key = ${proxyAccessKey}`,
        `secret_key = ${proxySecretKey}`,
        `host_base = 127.0.0.1:${port}`,
        `host_bucket = 127.0.0.1:${port}`,
        "bucket_location = us-east-1",
        "use_https = False",
        "signature_v2 = False",
        ""
      ].join("\n"))
      return run(bin.s3cmd, ["-c", conf, ...args], { cwd: work, env: clientEnv({}) })
    }

    it("mb, put (small and a 20 MiB multipart), ls, get, del, rb: what comes back is what went in", async () => {
      const small = Buffer.from("s3cmd was here\n")
      const big = prng(20)(20 * 1024 * 1024 + 99) // over s3cmd's 15 MiB multipart chunk size
      writeFileSync(path.join(work, "s3cmd-small.txt"), small)
      writeFileSync(path.join(work, "s3cmd-big.bin"), big)
      ok(await s3cmd(["mb", "s3://s3cmd-bucket"]), "s3cmd mb")
      ok(await s3cmd(["put", "s3cmd-small.txt", "s3://s3cmd-bucket/dir/small.txt"]), "s3cmd put (small)")
      ok(await s3cmd(["put", "s3cmd-big.bin", "s3://s3cmd-bucket/dir/sub/big.bin"]), "s3cmd put (multipart)")
      const top = ok(await s3cmd(["ls", "s3://s3cmd-bucket"]), "s3cmd ls").stdout
      assert.match(top, /DIR\s+s3:\/\/s3cmd-bucket\/dir\//)
      const all = ok(await s3cmd(["ls", "--recursive", "s3://s3cmd-bucket"]), "s3cmd ls --recursive").stdout
        .split("\n").filter((l) => l.trim() !== "").map((l) => l.trim().split(/\s+/).slice(2).join(" ")).sort()
      assert.deepStrictEqual(all, [`${small.length} s3://s3cmd-bucket/dir/small.txt`, `${big.length} s3://s3cmd-bucket/dir/sub/big.bin`])
      ok(await s3cmd(["get", "--force", "s3://s3cmd-bucket/dir/small.txt", "s3cmd-small.back"]), "s3cmd get (small)")
      ok(await s3cmd(["get", "--force", "s3://s3cmd-bucket/dir/sub/big.bin", "s3cmd-big.back"]), "s3cmd get (multipart)")
      assert.strictEqual(sha256(readFileSync(path.join(work, "s3cmd-small.back"))), sha256(small))
      assert.strictEqual(sha256(readFileSync(path.join(work, "s3cmd-big.back"))), sha256(big))

      const missing = await s3cmd(["get", "--force", "s3://s3cmd-bucket/dir/missing", "s3cmd-missing"])
      assert.notStrictEqual(missing.code, 0)
      assert.include(missing.stderr, "does not exist") // (s3cmd's words for the 404)
      const notEmpty = await s3cmd(["rb", "s3://s3cmd-bucket"])
      assert.notStrictEqual(notEmpty.code, 0)
      assert.include(notEmpty.stderr, "BucketNotEmpty")
      ok(await s3cmd(["del", "s3://s3cmd-bucket/dir/small.txt", "s3://s3cmd-bucket/dir/sub/big.bin"]), "s3cmd del")
      assert.strictEqual(ok(await s3cmd(["ls", "--recursive", "s3://s3cmd-bucket"]), "s3cmd ls").stdout.trim(), "")
      ok(await s3cmd(["rb", "s3://s3cmd-bucket"]), "s3cmd rb")
    }, 300_000)
  })

  describe("restic (S3 backend)", () => {
    const repoUrl = () => `s3:${endpoint}/restic-repo`
    const restic = (args: ReadonlyArray<string>, cwd = work) =>
      run(bin.restic, ["--repo", repoUrl(), "--cache-dir", path.join(work, "restic-cache"), ...args], {
        cwd,
        env: clientEnv({ AWS_ACCESS_KEY_ID: proxyAccessKey, AWS_SECRET_ACCESS_KEY: proxySecretKey, RESTIC_PASSWORD: "restic-test-password" })
      })
    /** Everything but the root folder's own entry (restic restores into a fresh --target). */
    const contents = (dir: string) => {
      const { [""]: _root, ...rest } = snapshotTree(dir)
      return rest
    }

    it("init, backup, check --read-data, restore: the same tree (contents, modes, times, symlinks)", async () => {
      const tree = path.join(work, "restic-tree")
      makeTree(tree, 5)
      ok(await restic(["init"]), "restic init")
      ok(await restic(["backup", "."], tree), "restic backup")
      ok(await restic(["check", "--read-data"]), "restic check --read-data")
      const out = path.join(work, "restic-restore")
      ok(await restic(["restore", "latest", "--target", out]), "restic restore")
      assert.deepStrictEqual(contents(out), contents(tree))
    }, 300_000)

    it("a second backup, forget --prune of the first, check --read-data: the newer tree restores", async () => {
      const tree = path.join(work, "restic-tree")
      writeFileSync(path.join(tree, "big.bin"), prng(6)(2 * 1024 * 1024))
      writeFileSync(path.join(tree, "docs", "new.txt"), "added after the first backup\n")
      ok(await restic(["backup", "."], tree), "restic backup (second)")
      const snapshots = JSON.parse(ok(await restic(["snapshots", "--json"]), "restic snapshots").stdout) as Array<unknown>
      assert.strictEqual(snapshots.length, 2)
      ok(await restic(["forget", "--keep-last", "1", "--prune"]), "restic forget --prune")
      ok(await restic(["check", "--read-data"]), "restic check --read-data (after prune)")
      const out = path.join(work, "restic-restore-2")
      ok(await restic(["restore", "latest", "--target", out]), "restic restore (second)")
      assert.deepStrictEqual(contents(out), contents(tree))
      // A wrong password cannot open it.
      const wrong = await run(bin.restic, ["--repo", repoUrl(), "--no-cache", "snapshots"], {
        cwd: work,
        env: clientEnv({ AWS_ACCESS_KEY_ID: proxyAccessKey, AWS_SECRET_ACCESS_KEY: proxySecretKey, RESTIC_PASSWORD: "wrong" })
      })
      assert.notStrictEqual(wrong.code, 0)
      assert.include(wrong.stderr, "wrong password")
    }, 300_000)
  })
})
