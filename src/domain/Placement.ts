/**
 * Which providers a new chunk's copies go to: smooth weighted round-robin (nginx's), generalised
 * to `copies` distinct picks per chunk. Each provider is owed a share of each chunk's `copies`
 * picks in proportion to its weight, at most one (a chunk has one copy per provider; what a
 * provider cannot take is shared out among the others, by weight). The `copies` most owed are
 * picked and each is charged one pick. Over many chunks every provider then holds copies in
 * proportion to its weight, second copies included, and the balances stay bounded. With one copy
 * this is nginx's rule, and with equal weights round-robin.
 */
export interface PlacementRule<P> {
  /** Every provider, the next chunk's picks first (`copies` of them); moves the rule on by one chunk. */
  readonly next: () => ReadonlyArray<P>
}

/** Each provider's share of `picks` picks per chunk: by weight, none over one (water-filling). */
export const sharesOf = (weights: ReadonlyArray<number>, picks: number): Array<number> => {
  const shares = weights.map(() => 0)
  const open = new Set(weights.map((_, i) => i))
  let left = picks
  for (;;) {
    const weight = [...open].reduce((a, i) => a + weights[i]!, 0)
    const over = [...open].filter((i) => (left * weights[i]!) / weight > 1)
    if (over.length === 0) {
      for (const i of open) shares[i] = (left * weights[i]!) / weight
      return shares
    }
    for (const i of over) {
      shares[i] = 1
      open.delete(i)
      left -= 1
    }
  }
}

export const makePlacementRule = <P>(providers: ReadonlyArray<{ readonly provider: P; readonly weight: number }>, copies: number): PlacementRule<P> => {
  const picks = Math.max(1, Math.min(copies, providers.length))
  const shares = sharesOf(providers.map((p) => p.weight), picks)
  const state = providers.map((p, i) => ({ provider: p.provider, owed: shares[i]!, balance: 0, index: i }))
  const n = state.length
  let step = 0
  return {
    next: () => {
      for (const s of state) s.balance += s.owed
      // With several copies, ties go round in turn, so that where every provider holds every chunk
      // (copies = the number of providers) each is still first for its share of chunks: reads
      // follow the first copy. With one, ties go to the provider listed first (nginx's sequence).
      const turn = (s: { readonly index: number }) => picks > 1 ? (s.index - (step % n) + n) % n : s.index
      const ranked = [...state].sort((a, b) => b.balance - a.balance || turn(a) - turn(b))
      for (const s of ranked.slice(0, picks)) s.balance -= 1
      step++
      return ranked.map((s) => s.provider)
    }
  }
}
