/** The flags and set-up every tensor pipeline shares: which backend, how many threads. */
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import * as os from "node:os"
import type { FlagDefs } from "../engine/flags.ts"
import { Reporter } from "../engine/reporter.ts"
import { attempt } from "../errors.ts"
import { tensorEnvironment } from "./fingerprint.ts"
import { backendNames, selectBackend } from "./select.ts"

export const backendFlags = {
  backend: {
    kind: "enum",
    values: ["auto", ...backendNames],
    default: "auto",
    env: "LWI_BACKEND",
    doc: "tfjs backend; auto = the fastest that loads"
  },
  // At most 256: a thread pool far beyond the cores only thrashes (a typo like 1000000 started ~5,600 threads).
  threads: { kind: "int", default: 0, check: "0 <= number.integer <= 256", doc: "intra-op threads (0 = the cores this process may use; at most 256)" }
} as const satisfies FlagDefs

/**
 * The thread count for `--threads 0`: the cores this process may run on (`nproc`: the CPU affinity mask on Linux,
 * which a container's or taskset's limit narrows), not the backend's own default — ATen's is 1 on this 2-core
 * machine, which left half of it idle (issue 16).
 */
export const defaultThreads = (): number => Math.max(1, os.availableParallelism())

/** Selects and initializes the backend; its name goes into results.json, its build into tensor steps' keys. */
export const setupBackend = (config: { backend: string; threads: number }) =>
  Effect.gen(function* () {
    const reporter = yield* Reporter
    tf.env().set("PROD", true) // no "install tfjs-node" banner: lwi chooses backends itself and says which
    const asked = config.threads > 0 ? config.threads : defaultThreads()
    reporter.line(`threads: ${asked} (${config.threads > 0 ? "--threads" : "the cores this process may use; --threads N to change"})`)
    const choice = yield* attempt(() =>
      selectBackend({ ...(config.backend === "auto" ? {} : { prefer: config.backend }), threads: asked, log: reporter.line })
    )
    // The thread count the backend actually runs with (the cache key records it: it changes torch's rounding).
    const threads = choice.name === "torch" ? (yield* Effect.promise(() => import("./torch/backend.ts"))).torchNative()?.threads() : undefined
    return { facts: { backend: choice.name }, environment: tensorEnvironment(threads ?? asked) }
  })
