/**
 * The chaos harness's short form (tests/chaos/run.ts without --long): at least 20 SIGKILLs of a small pipeline
 * across its phases, every cache corruption case, every bad input. A new seed each run, printed; replay a failure
 * with `npx bun run tests/chaos/run.ts --chaos-seed N`.
 */
import { expect, test } from "bun:test"
import { runChaos } from "./run.ts"

test(
  "chaos: kills survived, corruptions recovered, bad inputs with clear errors",
  async () => {
    const seed = Number(process.env.LWI_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31))
    const summary = await runChaos({ long: false, seed })
    console.log(`${summary.line}   (${summary.seconds.toFixed(0)} s, seed ${seed})`)
    expect(summary.failures).toEqual([])
    expect(summary.kills.total).toBeGreaterThanOrEqual(20)
    expect(summary.kills.survived).toBe(summary.kills.total)
    expect(summary.corruptions.recovered).toBe(summary.corruptions.total)
    expect(summary.badInputs.clear).toBe(summary.badInputs.total)
  },
  10 * 60_000
)
