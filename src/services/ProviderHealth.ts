/**
 * Which providers failed a moment ago, so that a command stops waiting on one that is down.
 *
 * Why: every provider call is retried with backoff (`retry_attempts`, 5 by default: about 1.5 s
 * in all) before a chunk goes to, or is read from, another provider. With one provider down, a
 * backup paid that for every chunk whose placement named it first, and a restore for every chunk
 * whose first copy it held: 4.3 s to restore a 3 MiB tree holding three such chunks, and hours for
 * a large one, where the first failures already said what there was to know.
 *
 * How: a provider whose call failed for a reason that may pass, after all its retries (a refused
 * connection, a timeout, a 5xx: `StorageError.isRetryable`), is ailing for `holdMs`. Writes place
 * their copies on the other providers first and reach it only if those cannot take them all;
 * reads try its copies last. A call that succeeds there ends that at once, and so does `holdMs`
 * passing: then the next call tries it again, so a provider that is still down costs one round of
 * retries per period instead of one per chunk. Nothing is skipped: an ailing provider is tried
 * after the others, never left out, so where every provider is ailing (a network blip that
 * touched them all) each is still tried in its usual order, and no chunk or read is lost to this.
 */
export class ProviderHealth {
  /** Ailing providers, until when (milliseconds of `now`). */
  private readonly until = new Map<string, number>()
  private readonly holdMs: number
  private readonly now: () => number

  constructor(holdMs = 30_000, now: () => number = Date.now) {
    this.holdMs = holdMs
    this.now = now
  }

  /** A call to `name` failed, retries and all, for a reason that may pass. */
  failed(name: string): void {
    this.until.set(name, this.now() + this.holdMs)
  }

  /** A call to `name` succeeded. */
  succeeded(name: string): void {
    this.until.delete(name)
  }

  ailing(name: string): boolean {
    const until = this.until.get(name)
    if (until === undefined) return false
    if (until > this.now()) return true
    this.until.delete(name)
    return false
  }

  /** `items` with those of ailing providers moved after the others; each group keeps its order. */
  healthyFirst<A>(items: ReadonlyArray<A>, nameOf: (a: A) => string): ReadonlyArray<A> {
    if (this.until.size === 0) return items
    const healthy: Array<A> = []
    const ailing: Array<A> = []
    for (const item of items) (this.ailing(nameOf(item)) ? ailing : healthy).push(item)
    return [...healthy, ...ailing]
  }
}
