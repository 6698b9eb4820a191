/**
 * Throughput scaling, lwi beside PyTorch in one run, each pair back to back with the 1-minute load average read
 * just before it (other jobs share this machine; the ratio within a row is what to compare):
 *
 *   --table batch   batch sizes × models (LeNet-5, ResNet18 no BN)
 *   --table mlp     MLP depth × width (shared/models/mlp.ts)
 *
 * Both sides are bench/scaling-throughput.ts (lwi) and bench/peers/scaling_torch.py (PyTorch): the measurement of
 * bench/train-throughput.ts and its peer (same models, data, optimizer, batch order), timed as the best of
 * `--repeats` windows of `--seconds` each, so a burst from another job costs one window, not the figure.
 *
 * Both sides start under the same environment (thread pools, malloc thresholds: bench/environment.ts) and map the
 * system's libblas.so.3 (OpenBLAS, which scripts/setup.sh installs); each says what it ran with under the table.
 * `--peer-blas DIR` measures PyTorch a second time with DIR's libblas.so.3 first on LD_LIBRARY_PATH (e.g. an
 * unpacked reference BLAS, to see what the old, unfair peer measured), and the table gets a column for it.
 *
 *   bun run bench/scaling.ts --table batch [--models lenet,resnet18-imagenet] [--batches 8,16,32,64,128,256] [--json]
 *   bun run bench/scaling.ts --table mlp [--mlps 2x512,8x512,32x512,8x128,8x2048] [--batch 32] [--json]
 */
import * as os from "node:os"
import { helpText, parseFlagsOrExit } from "../shared/engine/flags.ts"
import { markdownTable } from "../shared/engine/report.ts"
import { describeRanWith, type RanWith, runSide } from "./environment.ts"

const flags = {
  table: { kind: "enum", values: ["batch", "mlp"], default: "batch", doc: "which sweep" },
  models: {
    kind: "string",
    default: "lenet,resnet18-imagenet",
    check: "/^(lenet|resnet18|resnet18-imagenet)(,(lenet|resnet18|resnet18-imagenet))*$/",
    doc: "architectures (--table batch): lenet, resnet18, resnet18-imagenet"
  },
  batches: { kind: "string", default: "8,16,32,64,128,256", check: "/^\\d+(,\\d+)*$/", doc: "batch sizes (--table batch)" },
  mlps: {
    kind: "string",
    default: "2x512,8x512,32x512,8x128,8x2048",
    check: "/^\\d+x\\d+(,\\d+x\\d+)*$/",
    doc: "MLP depth x width list (--table mlp)"
  },
  batch: { kind: "int", default: 32, check: "number.integer >= 1", doc: "batch size (--table mlp)" },
  seconds: { kind: "number", default: 3, check: "number > 0", doc: "seconds per timed window" },
  repeats: { kind: "int", default: 3, check: "number.integer >= 1", doc: "timed windows per side; the best counts" },
  backends: { kind: "string", default: "torch", doc: "lwi backends" },
  threads: { kind: "int", default: 1, check: "number.integer >= 1", doc: "threads on both sides" },
  python: { kind: "string", default: "/usr/bin/python3", doc: "python with torch" },
  peerBlas: {
    kind: "string",
    default: "",
    doc: "a directory holding another libblas.so.3 (e.g. OpenBLAS): PyTorch is measured a second time on it"
  },
  json: { kind: "boolean", default: false, doc: "also print every JSON line" },
  help: { kind: "boolean", default: false, doc: "show this help" }
} as const

type Line = { impl: string; backend: string; imagesPerSecond: number; steps: number; params?: number; ranWith?: RanWith }

/** One configuration: the peer, then each lwi backend; one table row per lwi backend. */
interface Case {
  readonly label: readonly unknown[]
  readonly peer: string[]
  readonly lwi: (backend: string) => string[]
}

type Flags = Omit<ReturnType<typeof parseFlagsOrExit<typeof flags>>, "table"> & { table: "batch" | "mlp" }

const cases = (f: Flags): { header: string[]; cases: Case[] } => {
  const common = ["--threads", String(f.threads), "--seconds", String(f.seconds), "--repeats", String(f.repeats)]
  if (f.table === "batch") {
    return {
      header: ["model", "batch"],
      cases: f.models.split(",").flatMap((model) =>
        f.batches.split(",").map((b) => {
          const args = ["--model", model, "--batch", b, ...common]
          return {
            label: [model, b],
            peer: [f.python, "bench/peers/scaling_torch.py", ...args],
            lwi: (backend) => [process.execPath, "run", "bench/scaling-throughput.ts", "--json", "--backend", backend, ...args]
          }
        })
      )
    }
  }
  return {
    header: ["MLP depth × width", "params"],
    cases: f.mlps.split(",").map((dw) => {
      const [depth, width] = dw.split("x")
      const args = ["--model", "mlp", "--depth", depth!, "--width", width!, "--batch", String(f.batch), ...common]
      return {
        label: [`${depth} × ${width}`],
        peer: [f.python, "bench/peers/scaling_torch.py", ...args],
        lwi: (backend) => [process.execPath, "run", "bench/scaling-throughput.ts", "--json", "--backend", backend, ...args]
      }
    })
  }
}

const main = async () => {
  const f: Flags = parseFlagsOrExit(flags)
  if (f.help) return console.log(helpText("bun run bench/scaling.ts", "throughput scaling, lwi vs PyTorch", flags))
  const { header, cases: todo } = cases(f)
  const rows: unknown[][] = []
  const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toPrecision(3))
  const blasEnv = { LD_LIBRARY_PATH: f.peerBlas }
  const ranWith = new Map<string, RanWith>()
  const run = async (cmd: string[], env?: Record<string, string>) => {
    const r = await runSide<Line>(cmd, f.threads, env)
    if (!("error" in r) && r.ranWith) ranWith.set(r.impl === "lwi" ? `lwi ${r.backend}` : env ? "PyTorch + peer BLAS" : "PyTorch", r.ranWith)
    return r
  }
  const rate = (l: Line | { error: string }) => ("error" in l ? Number.NaN : l.imagesPerSecond)
  const cell = (l: Line | { error: string }) => ("error" in l ? l.error : fmt(l.imagesPerSecond))
  for (const c of todo) {
    const load = os.loadavg()[0]!.toFixed(2)
    const peer = await run(c.peer)
    if (f.json) console.log(JSON.stringify({ ...peer, label: c.label, load }))
    const peer2 = f.peerBlas ? await run(c.peer, blasEnv) : undefined
    if (f.json && peer2) console.log(JSON.stringify({ ...peer2, label: c.label, load, peerBlas: f.peerBlas }))
    for (const backend of f.backends.split(",")) {
      const lwi = await run(c.lwi(backend))
      if (f.json) console.log(JSON.stringify({ ...lwi, label: c.label, load }))
      const params = f.table === "mlp" ? ["params" in peer ? (peer.params ?? "") : ""] : []
      rows.push([
        ...c.label,
        ...params,
        cell(peer),
        ...(peer2 ? [cell(peer2)] : []),
        cell(lwi),
        (rate(lwi) / rate(peer)).toFixed(2),
        ...(peer2 ? [(rate(lwi) / rate(peer2)).toFixed(2)] : []),
        `lwi ${backend}`,
        load
      ])
    }
  }
  const blas = f.peerBlas ? ["PyTorch + peer BLAS img/s"] : []
  const columns = [
    ...header,
    "PyTorch img/s",
    ...blas,
    "lwi img/s",
    "lwi / PyTorch",
    ...(f.peerBlas ? ["lwi / PyTorch + peer BLAS"] : []),
    "lwi backend",
    "load (1 min)"
  ]
  console.log(
    `\n${f.threads} thread(s) each side, real Fashion-MNIST batches, SGD momentum 0.9, best of ${f.repeats} × ~${f.seconds} s, ` +
      `${os.cpus().length} cores, ${new Date().toISOString()}\n`
  )
  console.log(markdownTable(columns, rows))
  console.log("\nRan with (both sides started with the same OMP/OpenBLAS threads and malloc thresholds, bench/environment.ts):")
  for (const [side, r] of ranWith) console.log(`- ${side}: ${describeRanWith(r)}; peak RSS (last run) ${r.peakRssMiB.toFixed(0)} MiB`)
}

await main()
