// What the benchmarks report of repeated runs: the median with the min–max, and every run.

/**
 * The median, min and max of the finite `values`, and the runs sorted; null when there are none.
 * @param {number[]} values
 */
export function summary(values) {
  const v = values.filter((x) => Number.isFinite(x)).toSorted((a, b) => a - b);
  if (!v.length) return null;
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v.at(-1), runs: v };
}
