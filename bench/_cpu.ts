/**
 * How fast this machine's cores are right now, for reading a benchmark's figures.
 *
 * Why: the VMs we measure on change speed from day to day, and within a day. The same code's
 * 1 GiB put to Local measured 402 MB/s on 2026-11-27 and 141–206 MB/s on 11-28 and 11-29, when
 * one core hashed SHA3-256 at ~570, 294 and 205–475 MiB/s; restic and borg slowed alike. A figure
 * without the machine's speed beside it cannot be compared with another day's, nor with a target.
 *
 * What: single-core rates of the two digests that a stream's format makes a `put` compute over
 * every byte (SHA-256 and SHA3-256, StreamChain.ts), and of AES-256-GCM, which seals every chunk;
 * over 4 MiB buffers (a chunk's size), best of five rounds. The digests are pure computation and
 * read steadily from one minute to the next; they are the machine's speed. From them, the put's
 * ceiling: the throughput at which the two digests alone keep every core busy. A put also
 * chunks, seals, hashes the chunk id, does its I/O and starts a process: on 2026-11-29 (`perf`,
 * `/usr/bin/time`) the digests were about half of its CPU time.
 *
 * And the time to start a process (`node -e 0`, median of five): the same VMs also differ in what
 * the kernel costs (page faults, system calls, waking threads), which a put, a restore and every
 * command's start pay besides the computation: `node -e 0` took 20 ms on 2026-11-26, 37 ms on
 * 11-28 and ~100 ms on 11-29.
 *
 * AES-256-GCM is measured in 64 KiB updates: Node allocates each update's output, and a 4 MiB
 * one would be a fresh mmap in this process (it lacks the launcher's malloc tunables), whose page
 * faults would be measured instead of the cipher. It still varies more than the digests.
 */
import { spawnSync } from "node:child_process"
import { createCipheriv, createHash, randomBytes } from "node:crypto"
import * as os from "node:os"
import { performance } from "node:perf_hooks"

export interface CpuRates {
  /** MiB/s on one core. */
  readonly sha3: number
  readonly sha256: number
  readonly aesGcm: number
  readonly cores: number
  /** Milliseconds from spawning `node -e 0` to its exit, median of five. */
  readonly nodeStartMs: number
  /** MB/s (10⁶) at which SHA3-256 and SHA-256 alone fill all `cores`. */
  readonly digestCeilingMBps: number
}

const MiB = 1024 * 1024

/** MiB/s of `f` over 5 rounds × `count` calls on `buffer`, best round. */
const rate = (f: (b: Uint8Array) => void, buffer: Uint8Array, count: number): number => {
  let best = 0
  for (let round = 0; round < 5; round++) {
    const t = performance.now()
    for (let i = 0; i < count; i++) f(buffer)
    best = Math.max(best, (count * buffer.length) / MiB / ((performance.now() - t) / 1000))
  }
  return best
}

const median = (xs: Array<number>) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** Milliseconds of a `node -e 0` run by this process's Node, median of five. */
const nodeStart = (): number =>
  median(Array.from({ length: 5 }, () => {
    const t = performance.now()
    spawnSync(process.execPath, ["-e", "0"], { stdio: "ignore" })
    return performance.now() - t
  }))

/** Takes about a second (5 × 8 × 4 MiB through each, five process starts). */
export const measureCpuRates = (): CpuRates => {
  const buffer = randomBytes(4 * MiB)
  const key = randomBytes(32)
  const nonce = randomBytes(12)
  const sha3 = rate((b) => void createHash("sha3-256").update(b).digest(), buffer, 8)
  const sha256 = rate((b) => void createHash("sha256").update(b).digest(), buffer, 8)
  const aesGcm = rate((b) => {
    const c = createCipheriv("aes-256-gcm", key, nonce)
    for (let o = 0; o < b.length; o += 64 * 1024) c.update(b.subarray(o, o + 64 * 1024))
    c.final()
  }, buffer, 8)
  const cores = os.availableParallelism()
  return { sha3, sha256, aesGcm, cores, nodeStartMs: nodeStart(), digestCeilingMBps: (cores / (1 / sha3 + 1 / sha256)) * MiB / 1e6 }
}

/** One line: the rates and the ceiling. */
export const describeCpuRates = (r: CpuRates): string =>
  `one core: SHA3-256 ${r.sha3.toFixed(0)} MiB/s, SHA-256 ${r.sha256.toFixed(0)}, AES-256-GCM ${r.aesGcm.toFixed(0)}; ` +
  `a put's two digests alone cap it at ${r.digestCeilingMBps.toFixed(0)} MB/s on ${r.cores} cores; \`node -e 0\` ${r.nodeStartMs.toFixed(0)} ms`
