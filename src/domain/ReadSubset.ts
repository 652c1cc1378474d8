/**
 * `verify --read-data-subset`, as restic's `check --read-data-subset`: read back only part of
 * the repository's chunks each time, so that a daily run with `1/7` … `7/7` reads all of it in a
 * week. `n/t` takes the chunks whose id falls in group n of t (ids are keyed hashes, so the groups
 * are even and fixed: the same chunks every time); `x%` takes a random x percent.
 */
export type ReadSubset =
  | { readonly _tag: "Group"; readonly n: number; readonly t: number }
  | { readonly _tag: "Percent"; readonly percent: number }

/** The subset `spec` names, or a one-line reason it names none. */
export const parseReadSubset = (spec: string): ReadSubset | { readonly error: string } => {
  const bad = { error: `--read-data-subset ${spec}: use n/t with 1 ≤ n ≤ t (e.g. 1/7), or a percentage above 0 and up to 100 (e.g. 10%)` }
  const group = /^(\d+)\/(\d+)$/.exec(spec.trim())
  if (group) {
    const n = Number(group[1])
    const t = Number(group[2])
    return n >= 1 && n <= t && Number.isSafeInteger(t) ? { _tag: "Group", n, t } : bad
  }
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(spec.trim())
  if (percent) {
    const p = Number(percent[1])
    return p > 0 && p <= 100 ? { _tag: "Percent", percent: p } : bad
  }
  return bad
}

/** Whether chunk `id` (hex) is in the subset; `random` gives numbers in [0, 1). */
export const inReadSubset = (subset: ReadSubset, id: string, random: () => number = Math.random): boolean =>
  subset._tag === "Group" ? parseInt(id.slice(0, 12), 16) % subset.t === subset.n - 1 : random() * 100 < subset.percent

export const describeReadSubset = (subset: ReadSubset): string =>
  subset._tag === "Group" ? `${subset.n}/${subset.t}` : `${subset.percent}%`
