/** Sample statistics for checking draws against their formulas. */
export const mean = (xs: ArrayLike<number>): number => {
  let s = 0
  for (let i = 0; i < xs.length; i++) s += xs[i]!
  return s / xs.length
}

export const variance = (xs: ArrayLike<number>): number => {
  const m = mean(xs)
  let s = 0
  for (let i = 0; i < xs.length; i++) s += (xs[i]! - m) ** 2
  return s / xs.length
}

/** Variance of each filter (last axis of a row-major kernel with `units` outputs). */
export const filterVariances = (w: Float32Array, units: number): number[] => {
  const sums = new Float64Array(units)
  const squares = new Float64Array(units)
  const per = w.length / units
  for (let i = 0; i < w.length; i++) {
    const j = i % units
    sums[j] = sums[j]! + w[i]!
    squares[j] = squares[j]! + w[i]! * w[i]!
  }
  return Array.from(sums, (s, j) => squares[j]! / per - (s / per) ** 2)
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

export const maxAbs = (xs: ArrayLike<number>): number => {
  let m = 0
  for (let i = 0; i < xs.length; i++) m = Math.max(m, Math.abs(xs[i]!))
  return m
}
