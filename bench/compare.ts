/**
 * Side by side, in one run, on this machine: lwi (each available backend) vs PyTorch (Debian python3-torch), same
 * architecture, same real Fashion-MNIST batches, same batch size and thread count. Prints a table with lwi/PyTorch
 * ratios (and the JSON lines with --json).
 *
 *   bun run bench/compare.ts [--models lenet,resnet18,resnet18-imagenet] [--backends wasm,cpu] [--batch 32] [--threads 1]
 */
import { parseFlagsOrExit } from "../shared/engine/flags.ts"
import { markdownTable } from "../shared/engine/report.ts"

const flags = {
  models: { kind: "string", default: "lenet,resnet18,resnet18-imagenet", doc: "architectures" },
  backends: { kind: "string", default: "torch,wasm", doc: "lwi backends to measure (cpu is ~100x slower than wasm)" },
  batch: { kind: "int", default: 32, check: "number.integer >= 1", doc: "batch size" },
  threads: { kind: "int", default: 1, check: "number.integer >= 1", doc: "threads on both sides" },
  python: { kind: "string", default: "/usr/bin/python3", doc: "python with torch" },
  json: { kind: "boolean", default: false, doc: "also print every JSON line" }
} as const

type Line = { impl: string; backend: string; model: string; imagesPerSecond: number; steps: number }

const run = async (cmd: string[]): Promise<Line | { error: string }> => {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" })
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
  if (code !== 0) return { error: (err.trim().split("\n").at(-1) ?? `exit ${code}`).slice(0, 200) }
  return JSON.parse(out.trim().split("\n").at(-1)!) as Line
}

const main = async () => {
  const f = parseFlagsOrExit(flags)
  const common = ["--batch", String(f.batch), "--threads", String(f.threads)]
  const rows: unknown[][] = []
  for (const model of f.models.split(",")) {
    const peer = await run([f.python, "bench/peers/train_throughput_torch.py", "--model", model, ...common])
    if (f.json) console.log(JSON.stringify(peer))
    const peerRate = "error" in peer ? Number.NaN : peer.imagesPerSecond
    rows.push([model, "PyTorch", "error" in peer ? peer.error : peerRate.toFixed(0), "1.00"])
    for (const backend of f.backends.split(",")) {
      const lwi = await run([process.execPath, "run", "bench/train-throughput.ts", "--json", "--model", model, "--backend", backend, ...common])
      if (f.json) console.log(JSON.stringify(lwi))
      rows.push(
        "error" in lwi
          ? [model, `lwi ${backend}`, lwi.error, "–"]
          : [model, `lwi ${lwi.backend}`, lwi.imagesPerSecond.toFixed(0), (lwi.imagesPerSecond / peerRate).toFixed(3)]
      )
    }
  }
  console.log(`batch ${f.batch}, ${f.threads} thread(s), real Fashion-MNIST batches, SGD momentum 0.9\n`)
  console.log(markdownTable(["model", "implementation", "img/s", "lwi / PyTorch"], rows))
}

await main()
