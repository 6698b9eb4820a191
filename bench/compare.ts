/**
 * Side by side, in one run, on this machine: lwi (each available backend) vs PyTorch (Debian python3-torch), same
 * architecture, same real Fashion-MNIST batches, same batch size and thread count. Prints a table with lwi/PyTorch
 * ratios (and the JSON lines with --json).
 *
 *   bun run bench/compare.ts [--models lenet,resnet18,resnet18-imagenet] [--backends wasm,cpu] [--batch 32] [--threads 1]
 *                            [--rounds 3]
 *
 * With --rounds N each pair is run N times, alternating PyTorch and lwi, and the table shows the median img/s of
 * each side and the median of the per-round ratios (on a shared machine the load moves between runs; a ratio taken
 * from runs seconds apart is steadier than either figure).
 */
import { parseFlagsOrExit } from "../shared/engine/flags.ts"
import { markdownTable } from "../shared/engine/report.ts"

const flags = {
  models: { kind: "string", default: "lenet,resnet18,resnet18-imagenet", doc: "architectures" },
  backends: { kind: "string", default: "torch,wasm", doc: "lwi backends to measure (cpu is ~100x slower than wasm)" },
  batch: { kind: "int", default: 32, check: "number.integer >= 1", doc: "batch size" },
  threads: { kind: "int", default: 1, check: "number.integer >= 1", doc: "threads on both sides" },
  python: { kind: "string", default: "/usr/bin/python3", doc: "python with torch" },
  rounds: { kind: "int", default: 1, check: "number.integer >= 1", doc: "alternating runs per pair (medians shown)" },
  json: { kind: "boolean", default: false, doc: "also print every JSON line" }
} as const

type Line = { impl: string; backend: string; model: string; imagesPerSecond: number; steps: number }

const run = async (cmd: string[]): Promise<Line | { error: string }> => {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" })
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
  if (code !== 0) return { error: (err.trim().split("\n").at(-1) ?? `exit ${code}`).slice(0, 200) }
  return JSON.parse(out.trim().split("\n").at(-1)!) as Line
}

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? Number.NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

const main = async () => {
  const f = parseFlagsOrExit(flags)
  const common = ["--batch", String(f.batch), "--threads", String(f.threads)]
  const rows: unknown[][] = []
  for (const model of f.models.split(",")) {
    const peerRates: number[] = []
    const lwi = new Map<string, { rates: number[]; ratios: number[]; name: string; error?: string }>()
    let peerError: string | undefined
    for (let round = 0; round < f.rounds; round++) {
      const peer = await run([f.python, "bench/peers/train_throughput_torch.py", "--model", model, ...common])
      if (f.json) console.log(JSON.stringify(peer))
      if ("error" in peer) peerError = peer.error
      else peerRates.push(peer.imagesPerSecond)
      const peerRate = "error" in peer ? Number.NaN : peer.imagesPerSecond
      for (const backend of f.backends.split(",")) {
        const r = await run([process.execPath, "run", "bench/train-throughput.ts", "--json", "--model", model, "--backend", backend, ...common])
        if (f.json) console.log(JSON.stringify(r))
        const entry = lwi.get(backend) ?? { rates: [], ratios: [], name: backend }
        if ("error" in r) entry.error = r.error
        else {
          entry.name = r.backend
          entry.rates.push(r.imagesPerSecond)
          entry.ratios.push(r.imagesPerSecond / peerRate)
        }
        lwi.set(backend, entry)
      }
    }
    rows.push([model, "PyTorch", peerRates.length > 0 ? median(peerRates).toFixed(0) : peerError, "1.00"])
    for (const e of lwi.values()) {
      rows.push(
        e.rates.length === 0
          ? [model, `lwi ${e.name}`, e.error, "–"]
          : [model, `lwi ${e.name}`, median(e.rates).toFixed(0), median(e.ratios).toFixed(3)]
      )
    }
  }
  const rounds = f.rounds > 1 ? `, medians of ${f.rounds} alternating rounds` : ""
  console.log(`batch ${f.batch}, ${f.threads} thread(s), real Fashion-MNIST batches, SGD momentum 0.9${rounds}\n`)
  console.log(markdownTable(["model", "implementation", "img/s", "lwi / PyTorch"], rows))
}

await main()
