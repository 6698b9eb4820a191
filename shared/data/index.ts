/**
 * Data for lwi experiments as plain functions: loaders return `ImageSet`s (typed arrays, NHWC), helpers prepare
 * and sample them. No engine, no tensors — steps wrap these. Failures are BadDataFile / MissingData / BadConfig.
 */
export * from "./types.ts"
export * from "./random.ts"
export * from "./idx.ts"
export * from "./cifar.ts"
export * from "./image-folder.ts"
export * from "./circles.ts"
export * from "./normalize.ts"
export * from "./transform.ts"
export * from "./select.ts"
export * from "./datasets.ts"
export * from "./download.ts"
export * from "./locate.ts"
export * from "./load.ts"
