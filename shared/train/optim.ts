/**
 * Optimizers with PyTorch's update rules, written on tfjs ops so that their state is plain named tensors (saved in
 * checkpoints, restored exactly on resume) and the maths matches the peer benchmarks:
 *   SGD:   g += wd·w;  v = μ·v + g;  w -= lr·v                       (torch.optim.SGD, dampening 0, not Nesterov)
 *   Adam:  g += wd·w;  m = β1·m + (1−β1)·g;  s = β2·s + (1−β2)·g²;  w -= lr·m̂/(√ŝ + ε)          (torch.optim.Adam)
 *   AdamW: w -= lr·wd·w, then Adam without the wd term                                       (torch.optim.AdamW)
 * A backend may register `sgdUpdateKernel` to run SGD's update in one pass (the `torch` backend does); the result is
 * the same to the last bit, since the kernel rounds each product and sum as the separate ops do.
 */
import * as tf from "@tensorflow/tfjs"

/**
 * The one-pass SGD update, for backends that register it. Inputs `w`, `g` and optionally `v` (float32, one shape);
 * attrs `lr`, `momentum`. Outputs `[w − lr·(μ·v + g), μ·v + g]` with `v`, `[w − lr·g]` without — each product and
 * sum rounded to float32 on its own, exactly as `w.sub(v.mul(μ).add(g).mul(lr))` rounds them.
 */
export const sgdUpdateKernel = "LwiSgdUpdate"

/** Whether the active backend runs `sgdUpdateKernel` (looked up per step: the backend may change between steps). */
const fusedSgd = () => tf.getKernel(sgdUpdateKernel, tf.getBackend()) !== undefined

export interface OptimizerConfig {
  readonly kind: "sgd" | "adam" | "adamw"
  /** SGD momentum μ; 0.9 is the usual CNN value (He et al. 2016). */
  readonly momentum: number
  /** L2 (SGD/Adam) or decoupled (AdamW) weight decay. */
  readonly weightDecay: number
  /** Adam β1, β2, ε: the defaults of Kingma & Ba (2015). */
  readonly beta1?: number
  readonly beta2?: number
  readonly epsilon?: number
}

export interface Optimizer {
  /** Applies one update with learning rate `lr`; `grads[i]` belongs to `vars[i]`. Disposes nothing it was given. */
  readonly step: (grads: ReadonlyArray<tf.Tensor>, lr: number) => void
  /** State tensors by name (copies are made by the caller when saving). */
  readonly state: () => Record<string, tf.Tensor>
  /** Overwrites the state with saved values (same names and shapes as `state()`). */
  readonly load: (saved: Readonly<Record<string, { shape: ReadonlyArray<number>; data: Float32Array }>>) => void
  readonly dispose: () => void
}

/** `lrFactors[i]` multiplies the learning rate of `vars[i]` (e.g. Fixup's scalars at a tenth); absent: 1 for all. */
export const makeOptimizer = (config: OptimizerConfig, vars: ReadonlyArray<tf.Variable>, lrFactors?: ReadonlyArray<number>): Optimizer => {
  /** A variable from a temporary: tf.variable keeps its own reference, the temporary is disposed here. */
  const variableFrom = (value: tf.Tensor, name?: string) => {
    const variable = tf.variable(value, false, name)
    value.dispose()
    return variable
  }
  const zeros = (prefix: string) => vars.map((v, i) => variableFrom(tf.zerosLike(v), `${prefix}${i}_${v.id}`))
  const b1 = config.beta1 ?? 0.9
  const b2 = config.beta2 ?? 0.999
  const eps = config.epsilon ?? 1e-8
  const wd = config.weightDecay
  const slots: Record<string, tf.Variable[]> =
    config.kind === "sgd" ? (config.momentum > 0 ? { v: zeros("v") } : {}) : { m: zeros("m"), s: zeros("s") }
  const t = variableFrom(tf.scalar(0))

  const step = (grads: ReadonlyArray<tf.Tensor>, baseLr: number) =>
    tf.tidy(() => {
      t.assign(t.add(1))
      const tNow = t.dataSync()[0]!
      const fused = config.kind === "sgd" && fusedSgd()
      vars.forEach((w, i) => {
        const lr = baseLr * (lrFactors?.[i] ?? 1)
        let g = grads[i]!
        if (wd > 0 && config.kind !== "adamw") g = g.add(w.mul(wd))
        if (fused && w.dtype === "float32" && g.dtype === "float32") {
          const v = slots.v?.[i]
          const inputs: tf.NamedTensorMap = v ? { w, g, v } : { w, g }
          const out = tf.engine().runKernel(sgdUpdateKernel, inputs, { lr, momentum: config.momentum }) as tf.Tensor[]
          w.assign(out[0]!)
          if (v) v.assign(out[1]!)
          return
        }
        if (config.kind === "sgd") {
          if (slots.v) {
            const v = slots.v[i]!
            v.assign(v.mul(config.momentum).add(g))
            g = v
          }
          w.assign(w.sub(g.mul(lr)))
          return
        }
        const m = slots.m![i]!
        const s = slots.s![i]!
        m.assign(m.mul(b1).add(g.mul(1 - b1)))
        s.assign(s.mul(b2).add(g.square().mul(1 - b2)))
        const mHat = m.div(1 - b1 ** tNow)
        const sHat = s.div(1 - b2 ** tNow)
        const base = config.kind === "adamw" && wd > 0 ? w.mul(1 - lr * wd) : w
        w.assign(base.sub(mHat.div(sHat.sqrt().add(eps)).mul(lr)))
      })
    })

  const state = () => {
    const out: Record<string, tf.Tensor> = { t }
    for (const [name, list] of Object.entries(slots)) list.forEach((v, i) => (out[`${name}.${i}`] = v))
    return out
  }
  return {
    step,
    state,
    load: (saved) => {
      for (const [name, variable] of Object.entries(state())) {
        const s = saved[name]
        if (!s) throw new Error(`optimizer state "${name}" missing from checkpoint`)
        ;(variable as tf.Variable).assign(tf.tensor(s.data, [...s.shape]))
      }
    },
    dispose: () => {
      t.dispose()
      for (const list of Object.values(slots)) for (const v of list) v.dispose()
    }
  }
}

export interface ScheduleConfig {
  readonly kind: "constant" | "step" | "cosine"
  /** Step decay: multiply by `factor` every `every` epochs (the thesis: ×0.01 every 5 epochs for LW). */
  readonly every?: number
  readonly factor?: number
}

/** Learning rate for a 0-based `epoch` out of `epochs`. */
export const lrAt = (base: number, schedule: ScheduleConfig, epoch: number, epochs: number): number => {
  switch (schedule.kind) {
    case "constant":
      return base
    case "step":
      return base * (schedule.factor ?? 0.1) ** Math.floor(epoch / Math.max(1, schedule.every ?? 1))
    case "cosine":
      return 0.5 * base * (1 + Math.cos((Math.PI * epoch) / Math.max(1, epochs)))
  }
}
