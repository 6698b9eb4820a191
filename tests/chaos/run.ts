/**
 * The chaos harness in one command: kills, corruptions, bad inputs; prints one line of counts and exits 1 on any
 * failure.
 *
 *   npx bun run tests/chaos/run.ts [--long] [--chaos-seed N] [--kills N] [--parts kills,corrupt,bad] [--keep]
 *
 * The short form (CI, tests/chaos/chaos.test.ts) kills lenet-init-grid on one activation with 2 epochs on 600
 * images; --long kills more often on two activations, 3 epochs and 1000 images, and adds the bad inputs that load
 * the whole machine when they fail. Kill moments are random but seeded: the seed is printed, --chaos-seed replays it.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseFlagsOrExit } from "../../shared/engine/flags.ts"
import { runBadInputs } from "./bad-inputs.ts"
import { runCorruptions } from "./corrupt.ts"
import { phaseCounts, runKills, runReference } from "./kills.ts"

export interface ChaosOptions {
  readonly long: boolean
  readonly seed: number
  readonly kills?: number
  readonly parts?: ReadonlyArray<"kills" | "corrupt" | "bad">
  readonly keep?: boolean
  readonly log?: (line: string) => void
}

export interface ChaosSummary {
  readonly line: string
  readonly ok: boolean
  readonly seed: number
  readonly failures: ReadonlyArray<string>
  readonly kills: { readonly survived: number; readonly total: number }
  readonly corruptions: { readonly recovered: number; readonly total: number }
  readonly badInputs: { readonly clear: number; readonly total: number }
  readonly seconds: number
}

/** The pipeline the kill and corruption parts run, without --cache / --out. */
export const chaosCommand = (long: boolean): string[] => [
  "run",
  "pipelines/lenet-init-grid.ts",
  "--quick",
  "--threads",
  "1",
  ...(long
    ? ["--activations", "tanh,relu", "--epochs", "3", "--subset", "1000", "--test-subset", "500"]
    : ["--activations", "relu", "--epochs", "2", "--subset", "600", "--test-subset", "300"])
]

export const runChaos = async (o: ChaosOptions): Promise<ChaosSummary> => {
  const log = o.log ?? ((l: string) => console.log(l))
  const parts = new Set(o.parts ?? ["kills", "corrupt", "bad"])
  const workDir = await mkdtemp(join(tmpdir(), "lwi-chaos-"))
  const t0 = performance.now()
  const command = chaosCommand(o.long)
  const timeoutMs = o.long ? 20 * 60_000 : 4 * 60_000
  const failures: string[] = []
  log(`chaos: seed ${o.seed} (replay: npx bun run tests/chaos/run.ts${o.long ? " --long" : ""} --chaos-seed ${o.seed}); work dir ${workDir}`)
  log(`chaos: pipeline bun ${command.join(" ")}`)

  let kills = { survived: 0, total: 0 }
  let phases = ""
  let corruptions = { recovered: 0, total: 0 }
  let badInputs = { clear: 0, total: 0 }
  try {
    if (parts.has("kills") || parts.has("corrupt")) {
      const ref = await runReference(command, join(workDir, "kills"), timeoutMs)
      log(`chaos: uninterrupted reference run ${(ref.ms / 1000).toFixed(1)} s`)
      if (parts.has("kills")) {
        log("kills:")
        const k = await runKills(
          { command, kills: o.kills ?? (o.long ? 40 : 20), seed: o.seed, workDir: join(workDir, "kills"), log, timeoutMs },
          ref
        )
        kills = { survived: k.kills.filter((r) => r.survived).length, total: k.kills.length }
        phases = phaseCounts(k.kills)
        failures.push(...k.failures.map((f) => `kill: ${f}`))
      }
      if (parts.has("corrupt")) {
        log("corruptions:")
        const c = await runCorruptions({
          command,
          cleanCache: ref.cache,
          expected: ref.expected,
          workDir: join(workDir, "corrupt"),
          seed: o.seed,
          log,
          timeoutMs
        })
        corruptions = { recovered: c.filter((x) => x.ok).length, total: c.length }
        failures.push(...c.filter((x) => !x.ok).map((x) => `corruption "${x.name}": ${x.problems.join("; ")}`))
      }
    }
    if (parts.has("bad")) {
      log("bad inputs:")
      const b = await runBadInputs({ workDir: join(workDir, "bad"), log, timeoutMs: o.long ? 120_000 : 60_000, long: o.long })
      badInputs = { clear: b.filter((x) => x.ok).length, total: b.length }
      failures.push(...b.filter((x) => !x.ok).map((x) => `bad input "${x.name}": ${x.problems.join("; ")}`))
    }
  } finally {
    if (!o.keep) await rm(workDir, { recursive: true, force: true })
    else log(`chaos: kept ${workDir}`)
  }
  const counts = [
    ...(parts.has("kills") ? [`kills survived ${kills.survived}/${kills.total} (phases: ${phases || "none"})`] : []),
    ...(parts.has("corrupt") ? [`corruptions recovered ${corruptions.recovered}/${corruptions.total}`] : []),
    ...(parts.has("bad") ? [`bad inputs with clear errors ${badInputs.clear}/${badInputs.total}`] : [])
  ]
  const seconds = (performance.now() - t0) / 1000
  const ok = failures.length === 0 && kills.survived === kills.total && (!parts.has("kills") || kills.total >= (o.kills ?? 20))
  return { line: counts.join(" · "), ok, seed: o.seed, failures, kills, corruptions, badInputs, seconds }
}

if (import.meta.main) {
  const flags = parseFlagsOrExit({
    long: { kind: "boolean", default: false, doc: "more kills, larger configs, and the bad inputs that load the whole machine" },
    chaosSeed: { kind: "int", default: -1, check: "number.integer >= -1", doc: "seed of the kill moments and damage (-1: a new one, printed)" },
    kills: { kind: "int", default: 0, check: "number.integer >= 0", doc: "kills to land (0: 20, or 40 with --long)" },
    parts: { kind: "string", default: "kills,corrupt,bad", check: "/^(kills|corrupt|bad)(,(kills|corrupt|bad))*$/", doc: "which parts to run" },
    keep: { kind: "boolean", default: false, doc: "keep the work directory (caches, outputs) for a look" },
    help: { kind: "boolean", default: false, doc: "show this help" }
  })
  if (flags.help) {
    console.log("npx bun run tests/chaos/run.ts [--long] [--chaos-seed N] [--kills N] [--parts kills,corrupt,bad] [--keep]")
    process.exit(0)
  }
  const seed = flags.chaosSeed >= 0 ? flags.chaosSeed : Math.floor(Math.random() * 2 ** 31)
  const summary = await runChaos({
    long: flags.long,
    seed,
    ...(flags.kills > 0 ? { kills: flags.kills } : {}),
    parts: flags.parts.split(",") as Array<"kills" | "corrupt" | "bad">,
    keep: flags.keep
  })
  if (summary.failures.length > 0) console.log(`\nfailures:\n${summary.failures.map((f) => `- ${f}`).join("\n")}`)
  console.log(`\n${summary.line}   (${summary.seconds.toFixed(0)} s, seed ${seed})`)
  process.exit(summary.ok ? 0 : 1)
}
