/** "Did you mean …?": the closest of a few known words to one the user typed. */

/** Optimal-string-alignment distance: insertions, deletions, substitutions, adjacent swaps. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate `typed` most likely meant, or undefined. A typo is at most one edit in a short
 * word and two in a longer one (so `nats` is not taken for `cat`); failing that, `typed` may be
 * the start of a candidate (`--comp` for `--compression`), the shortest such one.
 */
export function closest(typed: string, candidates: readonly string[]): string | undefined {
  const core = typed.replace(/^-+/, "");
  const limit = core.length <= 4 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(typed, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  if (best !== undefined && bestDistance <= limit) return best;
  if (core.length < 3) return undefined;
  return candidates
    .filter((c) => c.replace(/^-+/, "").startsWith(core))
    .sort((x, y) => x.length - y.length)[0];
}
