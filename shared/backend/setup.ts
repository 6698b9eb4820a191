/** The flags and set-up every tensor pipeline shares: which backend, how many threads. */
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
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
  threads: { kind: "int", default: 0, check: "0 <= number.integer <= 256", doc: "intra-op threads (0 = the backend's default; at most 256)" }
} as const satisfies FlagDefs

/** Selects and initializes the backend; its name goes into results.json, its build into tensor steps' keys. */
export const setupBackend = (config: { backend: string; threads: number }) =>
  Effect.gen(function* () {
    const reporter = yield* Reporter
    tf.env().set("PROD", true) // no "install tfjs-node" banner: lwi chooses backends itself and says which
    const choice = yield* attempt(() =>
      selectBackend({
        ...(config.backend === "auto" ? {} : { prefer: config.backend }),
        ...(config.threads > 0 ? { threads: config.threads } : {}),
        log: reporter.line
      })
    )
    // The thread count the backend actually runs with (torch: ATen's default when --threads is 0).
    const threads = choice.name === "torch" ? (yield* Effect.promise(() => import("./torch/backend.ts"))).torchNative()?.threads() : undefined
    return { facts: { backend: choice.name }, environment: tensorEnvironment(threads ?? (config.threads || undefined)) }
  })
