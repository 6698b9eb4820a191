/** Elementwise kernels: one ATen op each (broadcasting follows numpy rules in both tfjs and ATen). */
import type { KernelConfig, TensorInfo } from "@tensorflow/tfjs"
import { TorchUnsupported } from "../errors.ts"
import { dtypeCode, type OpName } from "../native.ts"
import { kernel } from "./kernel.ts"

/** tfjs kernel name → shim op, for kernels with input `x`. */
const unary: Record<string, OpName> = {
  Abs: "abs", Neg: "neg", Sign: "sign", Sqrt: "sqrt", Rsqrt: "rsqrt", Square: "square", Exp: "exp",
  Expm1: "expm1", Log: "log", Log1p: "log1p", Sin: "sin", Cos: "cos", Tan: "tan", Asin: "asin", Acos: "acos",
  Atan: "atan", Sinh: "sinh", Cosh: "cosh", Tanh: "tanh", Asinh: "asinh", Acosh: "acosh", Atanh: "atanh",
  Sigmoid: "sigmoid", Relu: "relu", Relu6: "relu6", Elu: "elu", Selu: "selu", Softplus: "softplus", Ceil: "ceil",
  Floor: "floor", Round: "round", Reciprocal: "reciprocal", Erf: "erf", LogicalNot: "logical_not",
  IsNan: "is_nan", IsInf: "is_inf", IsFinite: "is_finite", ZerosLike: "zeros_like", OnesLike: "ones_like",
  Identity: "identity"
}

/** tfjs kernel name → shim op, for kernels with inputs `a`, `b`. */
const binary: Record<string, OpName> = {
  Add: "add", Sub: "sub", Multiply: "mul", RealDiv: "div", FloorDiv: "floor_div", Mod: "mod", Pow: "pow",
  Maximum: "maximum", Minimum: "minimum", SquaredDifference: "squared_difference", Atan2: "atan2", Equal: "equal",
  NotEqual: "not_equal", Less: "less", LessEqual: "less_equal", Greater: "greater", GreaterEqual: "greater_equal",
  LogicalAnd: "logical_and", LogicalOr: "logical_or", LogicalXor: "logical_xor"
}

export const elementwiseKernels: ReadonlyArray<KernelConfig> = [
  ...Object.entries(unary).map(([name, op]) =>
    kernel(name, ({ inputs, backend }) => backend.run(backend.op[op], inputs.x))
  ),
  ...Object.entries(binary).map(([name, op]) =>
    kernel(name, ({ inputs, backend }) => backend.run(backend.op[op], inputs.a, inputs.b))
  ),
  kernel("Step", ({ inputs, backend, attrs }) => {
    backend.native.floats[0] = attrs.alpha ?? 0
    return backend.run(backend.op.step, inputs.x)
  }),
  kernel("LeakyRelu", ({ inputs, backend, attrs }) => {
    backend.native.floats[0] = attrs.alpha
    return backend.run(backend.op.leaky_relu, inputs.x)
  }),
  kernel("ClipByValue", ({ inputs, backend, attrs }) => {
    backend.native.floats[0] = attrs.clipValueMin
    backend.native.floats[1] = attrs.clipValueMax
    return backend.run(backend.op.clip, inputs.x)
  }),
  kernel("Cast", ({ inputs, backend, attrs }) => {
    const dtype = attrs.dtype as string
    if (!(dtype in dtypeCode)) throw new TorchUnsupported({ kernel: "Cast", what: `casting to ${dtype}` })
    backend.native.ints[0] = dtypeCode[dtype as keyof typeof dtypeCode]
    return backend.run(backend.op.cast, inputs.x)
  }),
  kernel("Prelu", ({ inputs, backend }) => backend.run(backend.op.prelu, inputs.x, inputs.alpha)),
  kernel("EluGrad", ({ inputs, backend }) => backend.run(backend.op.elu_grad, inputs.dy, inputs.y)),
  kernel("Select", ({ inputs, backend }) => backend.run(backend.op.where, inputs.condition, inputs.t, inputs.e)),
  kernel("AddN", ({ inputs, backend }) => {
    const xs = inputs as TensorInfo[]
    xs.forEach((x, i) => (backend.native.ptrs[i] = backend.handle(x) as number))
    backend.native.ints[0] = xs.length
    return backend.run(backend.op.add_n)
  })
]
