/**
 * What a `resnet-nobn` run stores in its cache (what crosses the network to a shared cache), by step: one run on an
 * empty cache, from this checkout or another (`--repo`, e.g. a worktree of the commit before arrays went apart), then
 * the cache's status. And, on paper from the model's weight shapes, what the full config's LW chain stores per layer
 * with whole-state artifacts and with arrays stored apart (shared/engine/arrays.ts) — no run needed.
 *
 *   bun run bench/cache-bytes.ts [--repo DIR] [--cache DIR] [--args "--quick --backend torch --threads 1"] [--estimate-only]
 *   bun run bench/cache-bytes.ts --measure DIR     (only read an existing cache: no run)
 */
import { Effect } from "effect"
import { mkdtempSync, readFileSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { BLOB_MIN_BYTES, type NamedArray, encodeArrays, splitArrays } from "../shared/engine/arrays.ts"
import { parseFlagsOrExit } from "../shared/engine/flags.ts"
import { cacheStatus } from "../shared/engine/gc.ts"
import { markdownTable } from "../shared/engine/report.ts"
import { withPlaceholderWeights } from "../shared/models/layers.ts"
import type { ModelSpec } from "../shared/models/spec.ts"
import { getLayerWeights, serializeWeights } from "../shared/models/weights.ts"
import { withModel } from "../shared/train/tensors.ts"
import { lwLayersOf } from "../pipelines/lib/experiment.ts"

const flags = {
  repo: { kind: "string", default: path.resolve(import.meta.dir, ".."), doc: "checkout whose pipelines/resnet-nobn.ts runs" },
  cache: { kind: "string", default: "", doc: "empty cache directory for the run (default: a new temp dir)" },
  args: { kind: "string", default: "--quick --backend torch --threads 1", doc: "the pipeline's flags" },
  measure: { kind: "string", default: "", doc: "only report on this existing cache" },
  estimateOnly: { kind: "boolean", default: false, doc: "only the on-paper figures for the full config" }
} as const

const MiB = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`

/** The bytes a process has written so far (Linux /proc/PID/io `wchar`: every write call, cache and out dir and logs). */
const written = (pid: number): number | undefined => {
  try {
    return Number(/wchar: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, "utf8"))?.[1])
  } catch {
    return undefined
  }
}

/**
 * Runs the pipeline on an empty cache (its out dir beside the cache); returns what the process wrote, sampled every
 * 200 ms (the last 200 ms before it exits — results and report — are missed).
 */
const runPipeline = async (repo: string, cache: string, args: string) => {
  const cmd = [process.execPath, "run", "pipelines/resnet-nobn.ts", ...args.split(/\s+/).filter(Boolean), "--cache", cache, "--out", `${cache}-out`]
  console.log(`$ (cd ${repo}) ${cmd.slice(1).join(" ")}`)
  const p = Bun.spawn(cmd, { cwd: repo, stdout: "inherit", stderr: "inherit" })
  let wrote: number | undefined
  const sampler = setInterval(() => (wrote = written(p.pid) ?? wrote), 200)
  const code = await p.exited
  clearInterval(sampler)
  if (code !== 0) throw new Error(`the pipeline exited ${code}`)
  return wrote
}

const report = async (cache: string) => {
  const s = await Effect.runPromise(cacheStatus(cache, []))
  console.log(`\ncache ${cache}: ${MiB(s.total.bytes)} in ${s.total.count} files`)
  const rows = s.steps.map((r) => [r.step, r.entries.count, MiB(r.entries.bytes + r.blobs.bytes), r.blobs.count])
  rows.push(["(blobs shared by several steps)", "", MiB(s.sharedBlobs.bytes), s.sharedBlobs.count])
  rows.push(["(unreferenced blobs)", "", MiB(s.unreferencedBlobs.bytes), s.unreferencedBlobs.count])
  console.log(markdownTable(["step", "entries", "entries + own blobs", "own blobs"], rows))
}

/** The full config's model (resnet-nobn's defaults: Fashion-MNIST 28×28×1, 10 classes, ImageNet stem, no BN). */
const fullModel: ModelSpec = { arch: "resnet18", inputShape: [28, 28, 1], classes: 10, batchNorm: false, stem: "imagenet", activation: "relu" }

/** Bytes each LW step stores: the whole state as one container (before), or its changed arrays plus a container (after). */
const estimate = () => {
  const { all, layers } = withPlaceholderWeights(() =>
    withModel(fullModel, (model) => ({
      all: serializeWeights(model),
      layers: lwLayersOf(fullModel).map((l) => ({ layer: l, names: getLayerWeights(model, l).map((w) => w.name) }))
    }))
  )
  const arrays: Record<string, NamedArray> = Object.fromEntries(all.map((w) => [w.name, { dtype: "float32", shape: w.shape, data: w.data }]))
  const whole = encodeArrays(arrays).length
  const { inline, external } = splitArrays(arrays)
  const refs = Object.fromEntries(
    Object.entries(external).map(([name, a]) => [name, { dtype: a.dtype, shape: a.shape, blob: "0".repeat(64), length: a.data.byteLength }])
  )
  const container = encodeArrays(inline, refs).length
  const rows = layers.map(({ layer, names }) => {
    const own = names.filter((n) => n in external).reduce((t, n) => t + external[n]!.data.byteLength, 0)
    return { layer, before: whole, after: container + own }
  })
  const sum = (k: "before" | "after") => rows.reduce((t, r) => t + r[k], 0)
  console.log(
    `\nFull config on paper: ResNet18 without BN on 28×28×1, ${all.length} arrays, ${MiB(whole)} per whole state; ` +
      `${Object.keys(external).length} arrays of ${BLOB_MIN_BYTES / 1024} KiB or more stored apart, the rest inline in a ${MiB(container)} container.`
  )
  console.log(
    markdownTable(
      ["LW layer", "before: whole state", "after: container + changed arrays"],
      [...rows.map((r) => [r.layer, MiB(r.before), MiB(r.after)]), [`all ${rows.length} layers`, MiB(sum("before")), MiB(sum("after"))]]
    )
  )
}

const main = async () => {
  const config = parseFlagsOrExit(flags)
  if (!config.estimateOnly) {
    const cache = config.measure || config.cache || path.join(mkdtempSync(path.join(os.tmpdir(), "lwi-cache-bytes-")), "cache")
    if (!config.measure) {
      const wrote = await runPipeline(config.repo, cache, config.args)
      console.log(`\nthe run wrote ${wrote === undefined ? "(no /proc/PID/io here)" : MiB(wrote)} (wchar, sampled every 200 ms)`)
    }
    await report(cache)
  }
  estimate()
}

await main()
