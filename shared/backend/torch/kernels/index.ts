/** Every kernel the `torch` backend registers. */
import type { KernelConfig } from "@tensorflow/tfjs"
import { elementwiseKernels } from "./elementwise.ts"
import { nnKernels } from "./nn.ts"
import { reduceKernels } from "./reduce.ts"
import { shapeKernels } from "./shape.ts"
import { trainKernels } from "./train.ts"

export const torchKernels: ReadonlyArray<KernelConfig> = [...elementwiseKernels, ...shapeKernels, ...reduceKernels, ...nnKernels, ...trainKernels]
