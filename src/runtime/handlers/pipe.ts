import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { Effect, Option, Stream } from "effect"
import type { ChunkStrategy } from "../../domain/Chunker.ts"
import { UserError } from "../../domain/Errors.ts"
import { isS3Type, s3StorageClasses } from "../../domain/Settings.ts"
import { parseSize } from "../../domain/Size.ts"
import { checkRecipient, recipientsOf } from "../../services/pipe/AgeCodec.ts"
import { readAgeIdentities } from "../AgeIdentities.ts"
import { Pipe, PipeInputError, type GetResult, type PutResult } from "../../services/pipe/Pipe.ts"
import { unlock, withRepository } from "../Open.ts"
import { collectOwnedBuffersOnly } from "../OwnedBuffersGc.ts"
import { ExitWith, formatBytes, formatDuration, makeProgress } from "../Output.ts"
import { rootCommand } from "../commands/shared.ts"
import { stdoutWriter } from "../StdoutWriter.ts"

export type SummaryMode = "text" | "json" | "none"


/** Summaries go to stderr: stdout carries the data for `get` and stays clean for `put`. */
const summarize = (mode: SummaryMode, value: object, human: () => string) =>
  Effect.sync(() => {
    if (mode === "json") process.stderr.write(`${JSON.stringify(value)}\n`)
    else if (mode === "text") process.stderr.write(`${human()}\n`)
  })

const readBlock = 1024 * 1024

/**
 * stdin as blocks of 1 MiB: fs reads on fd 0 fill each block (a pipe hands over 64 KiB per
 * read; a fresh block per read would cost an allocation and a copy per 64 KiB). When fd 0 is a
 * non-blocking pipe, a read answers EAGAIN; from then on the rest comes through process.stdin,
 * which waits for data properly. Blocks are never reused: chunks may be views into them.
 *
 * A pipe is always non-blocking by the time this runs: NodeServices' Terminal layer makes
 * process.stdin at start-up, which sets O_NONBLOCK on fd 0. So a fast producer's first ~100 reads
 * fill blocks here and the rest arrives 64 KiB at a time on the main thread. That is the faster
 * way for a pipe: kept blocking, every 64 KiB read was a trip to a pool thread and back, and a
 * 1 GiB `cat | put` took 7.0–8.3 s against 5.6–6.0 s (2026-11-29, bench/README.md).
 */
async function* readStdin(): AsyncGenerator<Uint8Array> {
  const readInto = (buf: Buffer, at: number) =>
    new Promise<number>((resolve, reject) => fs.read(0, buf, at, buf.length - at, null, (err, n) => (err ? reject(err) : resolve(n))))
  for (;;) {
    const buf = Buffer.allocUnsafeSlow(readBlock)
    let filled = 0
    try {
      for (;;) {
        const n = await readInto(buf, filled)
        if (n === 0) break
        filled += n
        if (filled === readBlock) break
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err
      if (filled > 0) yield buf.subarray(0, filled)
      for await (const chunk of process.stdin) yield chunk as Buffer
      return
    }
    if (filled === readBlock) {
      yield buf
      continue
    }
    // End of input: keep only what the last block holds, so memory tracks the data.
    if (filled > 0) yield Buffer.from(buf.subarray(0, filled))
    return
  }
}

/**
 * `put --from-command CMD`: what `sh -c CMD` prints, as the input. Its exit status is part of the
 * input: anything but 0 fails the input at its end, so the stream is not committed (a pipe cannot
 * tell a dump that failed halfway from one that ended). The command gets this process's stdin and
 * stderr. If the put stops first (an error, Ctrl-C), the command is stopped too.
 */
async function* readCommand(command: string): AsyncGenerator<Uint8Array> {
  const child = spawn("/bin/sh", ["-c", command], { stdio: ["inherit", "pipe", "inherit"] })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once("error", reject)
    child.once("close", (code, signal) => resolve({ code, signal }))
  })
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer
    const { code, signal } = await exited
    if (code !== 0) throw new Error(`--from-command ${signal !== null ? `was killed by ${signal}` : `exited with code ${code}`}`)
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
  }
}

const commandStream = (command: string, name: string) =>
  Stream.fromAsyncIterable(
    { [Symbol.asyncIterator]: () => readCommand(command) },
    (e) =>
      new PipeInputError({
        detail: `${(e as Error)?.message ?? String(e)}; stream ${name} was not stored complete: run the put again, or \`enigma forget ${name}\` to drop what was stored`
      })
  )

const stdinStream = Stream.fromAsyncIterable(
  { [Symbol.asyncIterator]: readStdin },
  (e) => new PipeInputError({ detail: (e as Error)?.message ?? String(e) })
)

const stdinIsDirectory = (): boolean => {
  try {
    return fs.fstatSync(0).isDirectory()
  } catch {
    return false
  }
}

/**
 * Whether stdin is /dev/null: as cron and systemd start a job, and what Node makes of a closed
 * stdin (`put NAME <&-`). A `put` there would store an empty stream and say it succeeded: a dump
 * job that forgot its pipe would keep nothing, night after night.
 */
const stdinIsDevNull = (): boolean => {
  try {
    const st = fs.fstatSync(0)
    return st.isCharacterDevice() && st.rdev === fs.statSync("/dev/null").rdev
  } catch {
    return false
  }
}

export interface PutArgs {
  readonly name: string
  readonly chunkSize: Option.Option<string>
  readonly tags: ReadonlyArray<string>
  readonly fromCommand: Option.Option<string>
  readonly summary: SummaryMode
  readonly strictResume: boolean
  readonly bufferChunks: Option.Option<number>
  readonly diskspaceLimit: Option.Option<string>
  readonly scratchDir: Option.Option<string>
  readonly ageRecipients: ReadonlyArray<string>
  readonly ageIdentities: ReadonlyArray<string>
  readonly encrypt: boolean
  readonly encryptManifest: boolean
  readonly storageClass: Option.Option<string>
}

export const put = Effect.fn("cli.put")(function*(a: PutArgs) {
  const fromCommand = Option.getOrUndefined(a.fromCommand)
  if (fromCommand !== undefined && fromCommand.trim() === "") return yield* new UserError({ detail: "--from-command needs a command, e.g. --from-command \"pg_dump db\"" })
  if (fromCommand === undefined && process.stdin.isTTY) {
    return yield* new UserError({ detail: `stdin is a terminal; pipe the data in, e.g. \`pg_dump db | enigma put ${a.name}\`` })
  }
  // `put NAME < DIR` would fail at its first read, after recording an interrupted stream.
  if (fromCommand === undefined && stdinIsDirectory()) {
    return yield* new UserError({ detail: `stdin is a directory; pipe an archive of it in, e.g. \`tar c DIR | enigma put ${a.name}\`` })
  }
  if (fromCommand === undefined && stdinIsDevNull()) {
    return yield* new UserError({
      detail: `stdin is /dev/null (or closed): nothing to store; pipe the data in, e.g. \`pg_dump db | enigma put ${a.name}\` (an empty stream: \`printf '' | enigma put ${a.name}\`)`
    })
  }
  let chunking: ChunkStrategy | undefined
  if (Option.isSome(a.chunkSize)) {
    const size = parseSize(a.chunkSize.value, "--chunk-size", 4096, 1024 ** 3)
    if (typeof size === "string") return yield* new UserError({ detail: size })
    chunking = { _tag: "Fixed", size }
  }
  const tags: Array<readonly [string, string]> = []
  for (const t of a.tags) {
    const eq = t.indexOf("=")
    if (eq <= 0) return yield* new UserError({ detail: `--tag ${t}: use key=value, e.g. --tag env=prod` })
    tags.push([t.slice(0, eq), t.slice(eq + 1)])
  }
  if (Option.isSome(a.bufferChunks) && a.bufferChunks.value < 1) {
    return yield* new UserError({ detail: "--buffer-chunks must be 1 or more" })
  }
  let diskspaceLimit: number | undefined
  if (Option.isSome(a.diskspaceLimit)) {
    const size = parseSize(a.diskspaceLimit.value, "--diskspace-limit", 0, 1024 ** 5)
    if (typeof size === "string") return yield* new UserError({ detail: size })
    diskspaceLimit = size
  }
  // A regular file on stdin has a size to check the bytes read against.
  const stdinStat = yield* Effect.sync(() => {
    try {
      return fs.fstatSync(0)
    } catch {
      return undefined
    }
  })
  const expectedSize = fromCommand === undefined && stdinStat?.isFile() ? stdinStat.size : undefined

  if (!a.encryptManifest) {
    return yield* new UserError({ detail: "a stream's metadata is always encrypted (inside the log segments); --no-encrypt-manifest is not available" })
  }
  for (const r of a.ageRecipients) {
    const bad = checkRecipient(r)
    if (bad) return yield* new UserError({ detail: `--age-recipient ${bad}` })
  }
  const identities = yield* readAgeIdentities(a.ageIdentities)
  const recipients = [...new Set([...a.ageRecipients, ...(yield* recipientsOf(identities))])]
  if (!a.encrypt && recipients.length > 0) {
    return yield* new UserError({ detail: "--no-encrypt and age recipients contradict each other; give one or the other" })
  }
  if (!a.encrypt) {
    process.stderr.write("warning: --no-encrypt stores this stream in the clear: anyone who can read the provider can read it\n")
  }
  const storageClass = Option.getOrUndefined(a.storageClass)
  if (storageClass !== undefined && !(s3StorageClasses as ReadonlyArray<string>).includes(storageClass)) {
    return yield* new UserError({ detail: `--storage-class ${storageClass} is not one of ${s3StorageClasses.join(", ")}` })
  }
  const opened = yield* unlock(yield* rootCommand, { create: true })
  yield* collectOwnedBuffersOnly(opened.providers)
  if (storageClass !== undefined && !opened.settings.providers.some((p) => isS3Type(p.type))) {
    return yield* new UserError({ detail: "--storage-class applies to S3 providers, and this repository has none; leave it out" })
  }
  const started = Date.now()
  let progress = { bytes: 0, chunks: 0 }
  const line = makeProgress(() => {
    const rate = progress.bytes / Math.max((Date.now() - started) / 1000, 0.001)
    return `${a.name}: ${formatBytes(progress.bytes)} in ${progress.chunks} chunks, ${formatBytes(rate)}/s`
  })
  const r: PutResult = yield* withRepository(opened, "put", true, Pipe.use((p) =>
    p.put(fromCommand !== undefined ? commandStream(fromCommand, a.name) : stdinStream, {
      name: a.name,
      // readStdin gives a fresh buffer per block; a child's stdout may give views of shared ones.
      freeInput: fromCommand === undefined,
      chunking,
      tags,
      strictResume: a.strictResume,
      bufferChunks: Option.getOrUndefined(a.bufferChunks),
      diskspaceLimit,
      scratchDir: Option.getOrUndefined(a.scratchDir),
      ageRecipients: recipients.length > 0 ? recipients : undefined,
      unencrypted: !a.encrypt,
      storageClass,
      onResume: ({ chunks, bytes }) =>
        process.stderr.write(`resuming the interrupted put of ${a.name}: ${chunks} chunks (${formatBytes(bytes)}) already stored; checking the input against them\n`),
      onProgress: (p) => {
        progress = p
        line.update()
      }
    }))).pipe(Effect.ensuring(Effect.sync(line.done)))
  yield* summarize(a.summary, r, () =>
    [
      `stream ${r.name} stored (${r.streamId})`,
      `  size: ${formatBytes(r.bytes)} in ${r.chunks} chunks; uploaded ${r.uploadedChunks} (${formatBytes(r.storedBytes)} stored), deduplicated ${r.dedupChunks}${r.resumedChunks > 0 ? `, resumed ${r.resumedChunks}` : ""}`,
      `  duration: ${formatDuration(r.durationMs)} (${formatBytes(r.bytes / Math.max(r.durationMs / 1000, 0.001))}/s)`
    ].join("\n"))
  if (expectedSize !== undefined && expectedSize !== r.bytes) {
    process.stderr.write(`warning: stdin is a file of ${expectedSize} bytes but ${r.bytes} bytes were read (did it change while being read?)\n`)
    return yield* new ExitWith({ code: 3 })
  }
})

export const get = Effect.fn("cli.get")(function*(a: {
  readonly name: string
  readonly summary: SummaryMode
  readonly ageIdentities: ReadonlyArray<string>
  readonly noDecrypt: boolean
}) {
  if (a.noDecrypt && a.ageIdentities.length > 0) {
    return yield* new UserError({ detail: "--no-decrypt writes the chunks still encrypted; it takes no --age-identity" })
  }
  if (a.noDecrypt && process.stdout.isTTY) {
    return yield* new UserError({ detail: `stdout is a terminal; --no-decrypt writes a tar archive, redirect it, e.g. \`enigma get ${a.name} --no-decrypt > ${a.name}.tar\`` })
  }
  const ageIdentities = yield* readAgeIdentities(a.ageIdentities)
  const opened = yield* unlock(yield* rootCommand)
  // A chunk `get` gives us is freed once written out (the stream has let go of it).
  const write = stdoutWriter()
  const r: GetResult = yield* withRepository(opened, "get", false,
    Pipe.use((p) => a.noDecrypt ? p.getStored(a.name, write) : p.get(a.name, (bytes) => write(bytes, true), { ageIdentities })))
  yield* summarize(a.summary, r, () =>
    a.noDecrypt
      ? `stream ${r.name}: ${r.chunks} chunks as stored (encrypted, not verified) written as a ${formatBytes(r.bytes)} tar archive, ${formatDuration(r.durationMs)}`
      : `stream ${r.name}: ${formatBytes(r.bytes)} in ${r.chunks} chunks verified and written, ${formatDuration(r.durationMs)}`)
})
