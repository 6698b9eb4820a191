/** Initializers, activations and LSUV: plain functions over shapes and tensors, no models. */
export * from "./random.ts"
export * from "./fans.ts"
export { orthogonalKernel } from "./orthogonal.ts"
export * from "./initializers.ts"
export * from "./enhanced.ts"
export * from "./lsuv.ts"
export * from "./activations.ts"
