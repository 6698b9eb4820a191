/**
 * The main job end to end, lwi beside PyTorch: `pipelines/resnet-nobn.ts` (fresh cache) and its PyTorch twin
 * `bench/peers/resnet_nobn_torch.py`, same data files and sizes, model, init, optimizer and epochs, both started
 * under the same environment (bench/environment.ts). Per experiment, the wall time of all its work (init, LW layers
 * where it has them, training with per-epoch validation, test evaluation); the data handling; the whole process
 * from start to exit (start-up, data, every experiment, lwi's report and figures); and each side's peak RSS. The
 * speed ratio (PyTorch seconds / lwi seconds, > 1 means lwi is faster) is the figure a user feels.
 *
 *   bun run bench/main-job.ts [--subset 2000] [--test-subset 500] [--epochs 1] [--threads N] [--lw-max-epochs 200]
 *
 * The peer has no LW rows (the LW step is lwi's own work): lwi's time for them is shown alone. The peer's images are
 * a seeded numpy sample of the same sizes, not lwi's indices; accuracies are shown as a sanity check only.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import * as os from "node:os"
import { join } from "node:path"
import { defaultThreads } from "../shared/backend/setup.ts"
import { parseFlagsOrExit } from "../shared/engine/flags.ts"
import { markdownTable } from "../shared/engine/report.ts"
import { describeRanWith, type RanWith, runSide, spawnSide } from "./environment.ts"

const flags = {
  subset: { kind: "int", default: 2000, check: "number.integer >= 0", doc: "training images (0 = all, as npm start)" },
  testSubset: { kind: "int", default: 500, check: "number.integer >= 0", doc: "test images (0 = all)" },
  validation: { kind: "int", default: 200, check: "number.integer >= 1", doc: "held-out images scored every epoch" },
  epochs: { kind: "int", default: 1, check: "number.integer >= 1", doc: "training epochs of every experiment" },
  threads: { kind: "int", default: 0, check: "number.integer >= 0", doc: "threads on both sides (0 = the cores this process may use)" },
  lwMaxEpochs: { kind: "int", default: 200, check: "number.integer >= 1", doc: "lwi's LW epochs per layer (the pipeline's default: 200)" },
  stem: { kind: "enum", values: ["imagenet", "small"], default: "imagenet", doc: "ResNet18 stem" },
  // The thesis's rows: the LW ones (lwi only) and the three the peer has. The LSUV and Fixup rows have no peer (and
  // LSUV starts without an init-weights step, which the per-experiment grouping below keys on).
  experiments: { kind: "string", default: "lw,lw-thesis,kaiming,normal,kaiming-bn", doc: "resnet-nobn's --experiments for lwi's side" },
  python: { kind: "string", default: "/usr/bin/python3", doc: "python with torch" },
  json: { kind: "boolean", default: false, doc: "also print both sides' JSON" }
} as const

type PeerExperiment = { id: string; seconds: number; trainSeconds: number; evaluateSeconds: number; testAccuracy: number; diverged: unknown }
type Peer = { dataSeconds: number; experiments: PeerExperiment[]; ranWith: RanWith }
type LwiResults = {
  steps: ReadonlyArray<{ name: string; seconds: number; cached: boolean }>
  experiments: ReadonlyArray<{ id: string; testAccuracy: number; diverged: boolean }>
  environment: { backend: string; native: ReadonlyArray<string>; threads?: number } | null
}

/**
 * lwi's step records, split into the data handling (the steps before the first init-weights) and one group per
 * experiment (each starts with its init-weights; the pipeline runs its experiments one after the other, in order).
 */
export const groupSteps = (steps: LwiResults["steps"], experiments: ReadonlyArray<string>) => {
  const starts = steps.flatMap((s, i) => (s.name === "init-weights" ? [i] : []))
  if (starts.length !== experiments.length) {
    throw new Error(`results.json: ${starts.length} init-weights steps for ${experiments.length} experiments; the grouping assumes one each`)
  }
  const sum = (from: number, to: number, only?: ReadonlyArray<string>) =>
    steps.slice(from, to).reduce((a, s) => a + (only === undefined || only.includes(s.name) ? s.seconds : 0), 0)
  return {
    dataSeconds: sum(0, starts[0]!),
    experiments: experiments.map((id, k) => ({
      id,
      seconds: sum(starts[k]!, starts[k + 1] ?? steps.length),
      trainTestSeconds: sum(starts[k]!, starts[k + 1] ?? steps.length, ["train", "evaluate"])
    }))
  }
}

const main = async () => {
  const f = parseFlagsOrExit(flags)
  const threads = f.threads > 0 ? f.threads : defaultThreads()
  const sizes = ["--subset", String(f.subset), "--test-subset", String(f.testSubset), "--validation", String(f.validation), "--epochs", String(f.epochs), "--threads", String(threads), "--stem", f.stem]
  const dir = mkdtempSync(join(os.tmpdir(), "lwi-main-job-"))
  const loads = [os.loadavg()[0]!]
  try {
    const lwiCmd = [process.execPath, "run", "pipelines/resnet-nobn.ts", ...sizes, "--lw-max-epochs", String(f.lwMaxEpochs), "--experiments", f.experiments, "--cache", join(dir, "cache"), "--out", join(dir, "out")]
    const lwiRun = await spawnSide(lwiCmd, threads, { LWI_BACKEND: "torch" })
    loads.push(os.loadavg()[0]!)
    if (lwiRun.code !== 0) throw new Error(`lwi's main job failed (exit ${lwiRun.code}): ${lwiRun.stderr.slice(-1000)}`)
    const lwi = JSON.parse(readFileSync(join(dir, "out", "results.json"), "utf8")) as LwiResults
    const peer = await runSide<Peer>([f.python, "bench/peers/resnet_nobn_torch.py", ...sizes], threads)
    loads.push(os.loadavg()[0]!)
    if ("error" in peer) throw new Error(`the PyTorch peer failed: ${peer.error}`)
    if (f.json) console.log(JSON.stringify({ lwi: { ...lwi, wallSeconds: lwiRun.seconds, peakRssMiB: lwiRun.peakRssMiB }, peer }))

    const grouped = groupSteps(lwi.steps, lwi.experiments.map((e) => e.id))
    const s = (x: number) => x.toFixed(1)
    const ratio = (peerSeconds: number, lwiSeconds: number) => (peerSeconds / lwiSeconds).toFixed(2)
    const accuracy = (a: number, diverged: unknown) => `${(100 * a).toFixed(1)} %${diverged ? " (diverged)" : ""}`
    const blank = ["", "", ""]
    const rows: unknown[][] = [["data handling", s(grouped.dataSeconds), s(peer.dataSeconds), ratio(peer.dataSeconds, grouped.dataSeconds), ...blank, "", ""]]
    // A diverged run stops at its first non-finite loss (both sides do): its time is not an epoch's. Only rows where
    // neither side diverged are compared, and only they count in the total.
    const comparable: Array<{ lwi: number; lwiTrain: number; peer: number; peerTrain: number }> = []
    for (const e of grouped.experiments) {
      const l = lwi.experiments.find((x) => x.id === e.id)!
      const p = peer.experiments.find((x) => x.id === e.id)
      if (p === undefined) {
        rows.push([e.id, s(e.seconds), "– (LW: lwi only)", "–", s(e.trainTestSeconds), "–", "–", accuracy(l.testAccuracy, l.diverged), "–"])
        continue
      }
      const pTrain = p.trainSeconds + p.evaluateSeconds
      const diverged = [l.diverged ? "lwi" : "", p.diverged ? "PyTorch" : ""].filter(Boolean).join(", ")
      if (diverged === "") comparable.push({ lwi: e.seconds, lwiTrain: e.trainTestSeconds, peer: p.seconds, peerTrain: pTrain })
      const cmp = (a: number, b: number) => (diverged === "" ? ratio(a, b) : `– (${diverged} diverged)`)
      rows.push([e.id, s(e.seconds), s(p.seconds), cmp(p.seconds, e.seconds), s(e.trainTestSeconds), s(pTrain), cmp(pTrain, e.trainTestSeconds), accuracy(l.testAccuracy, l.diverged), accuracy(p.testAccuracy, p.diverged)])
    }
    const total = (k: keyof (typeof comparable)[number]) => comparable.reduce((a, c) => a + c[k], 0)
    rows.push([
      `experiments neither side diverged on (${comparable.length})`,
      s(total("lwi")),
      s(total("peer")),
      `**${ratio(total("peer"), total("lwi"))}**`,
      s(total("lwiTrain")),
      s(total("peerTrain")),
      `**${ratio(total("peerTrain"), total("lwiTrain"))}**`,
      "",
      ""
    ])
    rows.push(["whole process, start to exit (lwi: all its experiments)", s(lwiRun.seconds), s(peer.wallSeconds), "–", ...blank, "", ""])
    rows.push(["peak RSS, MiB", lwiRun.peakRssMiB.toFixed(0), peer.childPeakRssMiB.toFixed(0), "–", ...blank, "", ""])

    console.log(
      `main job (resnet-nobn), ${f.epochs} epoch(s), ${peer.experiments.length > 0 ? "" : "no peer experiments, "}` +
        `${f.subset || "all"} training (${f.validation} held out) / ${f.testSubset || "all"} test images, ${f.stem} stem, batch 32, ` +
        `${threads} thread(s) each side, LW ${f.lwMaxEpochs} epochs per layer at most; ${os.cpus().length} cores, load average (1 min) ` +
        `${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}, ${new Date().toISOString()}\n`
    )
    const columns = ["", "lwi s", "PyTorch s", "lwi speed / PyTorch", "lwi train+test s", "PyTorch train+test s", "speed (train+test)", "lwi test acc.", "PyTorch test acc."]
    console.log(markdownTable(columns, rows))
    console.log("\n(lwi s: every step of the experiment: init, LW layers, the evidence pass on the validation split, training with per-epoch validation, test evaluation; train+test: the train and evaluate steps only.)")
    console.log(`\nRan with (same OMP/OpenBLAS threads and malloc thresholds on both sides, bench/environment.ts):`)
    const env = lwi.environment
    const blas = env?.native.filter((l) => /blas/i.test(l)).join(", ") || "none"
    console.log(`- lwi ${env?.backend ?? "?"}: BLAS ${blas} (file:size); ${env?.threads ?? threads} thread(s); the shim's mallopt thresholds`)
    console.log(`- PyTorch: ${describeRanWith(peer.ranWith)}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.main) await main()
