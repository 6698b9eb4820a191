/** The data loaders' PRNG is lwi's one PRNG (shared/random.ts). */
export { createRng, deriveSeed, permutation, shuffleInPlace, type Rng } from "../random.ts"
