/**
 * Fan-in/fan-out of a kernel and the gain of a nonlinearity: the two numbers every variance-scaling initializer
 * is built from.
 *
 * Kernel layouts are tfjs's: dense [in, out], conv2d [kh, kw, inC, outC] (generally [...receptive, in, out]).
 * The output axis is always the last one, so a "filter" (one output unit) is a strided slice over the last axis.
 */

/** A kernel's shape in tfjs layout: [in, out] or [kh, kw, inC, outC]. */
export type KernelShape = readonly number[]

export interface Fans {
  /** Inputs feeding one output unit: in, or kh·kw·inC. */
  readonly fanIn: number
  /** Outputs one input reaches: out, or kh·kw·outC. */
  readonly fanOut: number
  /** Number of output units (filters): the last axis. */
  readonly units: number
  /** Total number of weights. */
  readonly size: number
}

/** Fans of a kernel (PyTorch's `_calculate_fan_in_and_fan_out`, transposed to tfjs layout). */
export const fans = (shape: KernelShape): Fans => {
  if (shape.length < 2) throw new RangeError(`a kernel needs at least 2 axes [in, out], got [${shape.join(", ")}]`)
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1)
  const inputs = shape[shape.length - 2]!
  const units = shape[shape.length - 1]!
  return { fanIn: receptive * inputs, fanOut: receptive * units, units, size: receptive * inputs * units }
}

/** Nonlinearities with a known variance gain (PyTorch's `calculate_gain`). */
export type Nonlinearity = "linear" | "sigmoid" | "tanh" | "relu" | "leakyRelu"

/**
 * The gain g such that Var(W) = g² / fan keeps activation variance constant through the nonlinearity:
 * linear/sigmoid 1, tanh 5/3, relu √2, leakyRelu √(2 / (1 + α²)). (PyTorch's values; sigmoid's 1 is PyTorch's
 * convention, not a derivation.)
 */
export const gain = (nonlinearity: Nonlinearity, negativeSlope = 0.01): number => {
  switch (nonlinearity) {
    case "linear":
    case "sigmoid":
      return 1
    case "tanh":
      return 5 / 3
    case "relu":
      return Math.SQRT2
    case "leakyRelu":
      return Math.sqrt(2 / (1 + negativeSlope * negativeSlope))
  }
}
