/**
 * Step replay on vs off (shared/backend/torch/replay.ts) — or, with `--ab conv`, the default convolution rule
 * without Winograd (`--conv direct`) vs the default, which adds Winograd's shape rule (`--conv auto`, shared/backend/torch/shim-winograd.h)
 * — alternating round by round
 * in one run: lwi's training throughput (bench/train-throughput.ts, torch backend) and each run's peak RSS, per-round
 * ratios and the load.
 * Peak RSS includes the two steps recorded through tfjs before replay starts (and the shim keeps freed memory), so
 * the replay's own saving shows in the last column: the most bytes of tensors made by a step alive at once, freed
 * as tfjs frees them vs after their last use (logical sizes, from the recorded program).
 *
 *   bun run bench/replay-ab.ts [--ab replay|conv] [--models lenet,resnet18-imagenet] [--batches 32,128] [--threads 1] [--rounds 3]
 */
import * as os from "node:os"
import { parseFlagsOrExit } from "../shared/engine/flags.ts"
import { markdownTable } from "../shared/engine/report.ts"
import { autogroupNote, median, runSide } from "./environment.ts"

const flags = {
  ab: { kind: "enum", values: ["replay", "conv"], default: "replay", doc: "what to alternate: replay off/on, or conv direct (off) / auto (on)" },
  models: { kind: "string", default: "lenet,resnet18-imagenet", doc: "architectures" },
  batches: { kind: "string", default: "32,128", doc: "batch sizes" },
  threads: { kind: "int", default: 1, check: "number.integer >= 1", doc: "intra-op threads" },
  rounds: { kind: "int", default: 3, check: "number.integer >= 1", doc: "alternating off/on rounds per row" },
  steps: { kind: "int", default: 0, check: "number.integer >= 0", doc: "timed steps per run (0 = about 10 s worth)" }
} as const

type Line = {
  imagesPerSecond: number
  replay: { replayed: number; recorded: number; normal: number; fallbacks: string[]; peakBytes?: { tfjs: number; replay: number } }
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1)

/** The two sides of each A/B, as train-throughput flags: "off" is the baseline, "on" the change. */
const sides = {
  replay: { off: ["--replay", "off"], on: ["--replay", "on"] },
  conv: { off: ["--conv", "direct"], on: ["--conv", "auto"] }
} as const

const main = async () => {
  const f = parseFlagsOrExit(flags)
  const rows: unknown[][] = []
  const loads = [os.loadavg()[0]!]
  for (const model of f.models.split(",")) {
    for (const batch of f.batches.split(",")) {
      const rates = { off: [] as number[], on: [] as number[] }
      const rss = { off: [] as number[], on: [] as number[] }
      const ratios: number[] = []
      const notes = new Set<string>()
      let peak = "–"
      for (let round = 0; round < f.rounds; round++) {
        const got: Record<string, number> = {}
        for (const mode of ["off", "on"] as const) {
          const cmd = [process.execPath, "run", "bench/train-throughput.ts", "--json", "--backend", "torch", "--model", model, "--batch", batch]
          const r = await runSide<Line>([...cmd, "--threads", String(f.threads), "--steps", String(f.steps), ...sides[f.ab][mode]], f.threads)
          if ("error" in r) {
            notes.add(`${mode}: ${r.error}`)
            continue
          }
          got[mode] = r.imagesPerSecond
          rates[mode].push(r.imagesPerSecond)
          rss[mode].push(r.childPeakRssMiB)
          if (mode === "on") {
            r.replay.fallbacks.forEach((x) => notes.add(x))
            if (r.replay.peakBytes) peak = `${mib(r.replay.peakBytes.tfjs)} / ${mib(r.replay.peakBytes.replay)}`
            if (r.replay.normal + r.replay.recorded > 2) notes.add(`${r.replay.recorded} recorded, ${r.replay.normal} through tfjs`)
          }
        }
        if (got.on !== undefined && got.off !== undefined) ratios.push(got.on / got.off)
        loads.push(os.loadavg()[0]!)
      }
      rows.push([
        model,
        batch,
        median(rates.off).toFixed(0),
        median(rates.on).toFixed(0),
        ratios.map((r) => r.toFixed(2)).join(", "),
        median(ratios).toFixed(2),
        `${median(rss.off).toFixed(0)} / ${median(rss.on).toFixed(0)}`,
        peak,
        [...notes].join("; ")
      ])
    }
  }
  console.log(`off = ${sides[f.ab].off.join(" ")}, on = ${sides[f.ab].on.join(" ")}; ${f.threads} thread(s), ${os.cpus().length} cores, load average (1 min) ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}, ${new Date().toISOString()}\n`)
  const autogroup = autogroupNote()
  if (autogroup !== null) console.log(autogroup)
  console.log(markdownTable(["model", "batch", "off img/s", "on img/s", "on/off per round", "median on/off", "peak RSS MiB off / on", "step tensors' peak MiB tfjs / replay", "notes"], rows))
}

if (import.meta.main) await main()
