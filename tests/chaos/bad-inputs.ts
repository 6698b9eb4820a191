/**
 * Bad inputs: a corpus of real CLI invocations with malformed data files, empty and huge values, NaN / negative /
 * zero hyper-parameters, unknown names, an unwritable --out and a full disk. Each must exit non-zero with a typed,
 * one-line error that names the file or flag and says what to do, print no stack trace, and leave nothing
 * half-written: no results.json / report.md in --out, no `*.tmp`, no corrupt cache entry. All cases share one cache;
 * at the end a good command on that cache must run without a single warning.
 */
import { mkdir, stat, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { cifarBytes, idxBytes } from "../data/fixtures.ts"
import { auditCache } from "./compare.ts"
import {
  MNIST_SIZE, TRAIN_IMAGES, TRAIN_LABELS, garbageJpeg, idxImages, idxLabels, mnistWith, truncatedJpeg,
  writeCifar10, writeGoodMnist, writeImagenette
} from "./data.ts"
import { listFiles, runProcess } from "./proc.ts"

export interface BadInputOptions {
  readonly workDir: string
  readonly log: (line: string) => void
  readonly timeoutMs: number
  /** Also run cases that load the whole machine when they fail (e.g. a million threads). */
  readonly long: boolean
  /** Run only the cases whose name matches (replaying one case). */
  readonly only?: RegExp
}

export interface BadCase {
  readonly name: string
  /** Arguments after `bun` (without --cache / --out, added here). */
  readonly args: ReadonlyArray<string>
  /** What the error must name: the file or the flag. */
  readonly names: RegExp
  readonly wrap?: ReadonlyArray<string>
  /** Where --out points (default: a fresh folder of the case's own). */
  readonly out?: string
  readonly cache?: string
  /** Its own time limit (default the harness's). */
  readonly timeoutMs?: number
}

export interface BadResult {
  readonly name: string
  readonly ok: boolean
  readonly problems: ReadonlyArray<string>
}

// The small pipeline every data and flag case runs; its --quick defaults read far more images than the tiny
// fixtures hold, so the subsets are set to what they have.
const GRID = ["run", "pipelines/lenet-init-grid.ts", "--quick", "--activations", "relu", "--threads", "1"]
const SMALL = ["--subset", "100", "--test-subset", "50", "--validation", "20", "--lw-batch", "10", "--lw-max-epochs", "3"]
const LOAD = ["run", "tests/chaos/load-pipeline.ts", "--dataset", "cifar10", "--threads", "1"]
const RESNET = ["run", "pipelines/resnet-nobn.ts", "--quick", "--dataset", "imagenette", "--threads", "1"]

/** `args` (flag, value pairs) without the flags `extra` sets. */
const withoutFlags = (args: ReadonlyArray<string>, extra: ReadonlyArray<string>): string[] =>
  args.flatMap((a, i) => (i % 2 === 0 && !extra.includes(a) ? [a, args[i + 1]!] : []))

/** A fix: the message says what is expected or what to do. */
const FIX = /expected|must|should|did you mean|use |pass |put |delete|download|check|choose|point|replace|at (least|most)|one of|run with --help|free |make room/i

/** The corpus; data folders are written under `dir`. */
export const badCases = async (dir: string, long: boolean): Promise<BadCase[]> => {
  const good = join(dir, "good-mnist")
  await writeGoodMnist(good)
  const n = MNIST_SIZE.nTrain
  const labels = Array.from({ length: n }, (_, i) => (i * 3) % 10)
  const mnist = async (name: string, file: string, bytes: Uint8Array) => mnistWith(good, join(dir, name), file, bytes)
  const aFile = join(dir, "a-regular-file")
  await writeFile(aFile, "not a directory\n")
  const cifarRecord = 1 + 3072

  const data = (name: string, d: string, names: RegExp): BadCase => ({ name, args: [...GRID, ...SMALL, "--data", d], names })
  const flag = (name: string, extra: ReadonlyArray<string>, names: RegExp, base = GRID): BadCase => ({
    name,
    args: [...base, "--data", good, ...withoutFlags(SMALL, extra), ...extra],
    names
  })

  const cases: BadCase[] = [
    // IDX (Fashion-MNIST layout)
    data("IDX: bad magic", await mnist("bad-magic", TRAIN_IMAGES, idxBytes(0x80a, [n, 28, 28], new Uint8Array(n * 784))), /train-images/),
    data("IDX: image and label files swapped", await mnist("swapped", TRAIN_IMAGES, idxLabels(labels)), /train-images/),
    data("IDX: images truncated", await mnist("truncated", TRAIN_IMAGES, idxImages(n).subarray(0, 16 + 784 * 50 + 100)), /train-images/),
    data("IDX: label count differs from image count", await mnist("wrong-count", TRAIN_LABELS, idxLabels(labels.slice(0, n - 7))), /train-labels/),
    data("IDX: empty image file", await mnist("empty-idx", TRAIN_IMAGES, new Uint8Array(0)), /train-images/),
    data("IDX: header claims 2^31 images", await mnist("huge-idx", TRAIN_IMAGES, idxBytes(0x803, [2 ** 31, 28, 28], new Uint8Array(784 * 4))), /train-images/),
    data("IDX: header only, zero images", await mnist("zero-idx", TRAIN_IMAGES, idxBytes(0x803, [0, 28, 28], new Uint8Array(0))), /train-images/),
    data("IDX: corrupt gzip stream", await mnist("bad-gzip", `${TRAIN_IMAGES}.gz`, gzipSync(idxImages(n)).subarray(0, 300)), /train-images/),
    data("IDX: label 12 of 10 classes", await mnist("bad-label", TRAIN_LABELS, idxLabels(labels.map((l, i) => (i === 5 ? 12 : l)))), /train-labels/),
    data("IDX: 32x32 images (another dataset)", await mnist("wrong-size", TRAIN_IMAGES, idxImages(n, 32, 32)), /train-images/),
    // CIFAR-10 binary batches
    { name: "CIFAR: size not a multiple of a record", args: [...LOAD, "--data", await writeCifar10(join(dir, "cifar-cut"), { file: "data_batch_2.bin", bytes: cifarBytes([[1], [2]]).subarray(0, cifarRecord + 999) })], names: /data_batch_2/ },
    { name: "CIFAR: label 10 of 10 classes", args: [...LOAD, "--data", await writeCifar10(join(dir, "cifar-label"), { file: "data_batch_4.bin", bytes: cifarBytes([[3], [10]]) })], names: /data_batch_4/ },
    { name: "CIFAR: empty batch file", args: [...LOAD, "--data", await writeCifar10(join(dir, "cifar-empty"), { file: "test_batch.bin", bytes: new Uint8Array(0) })], names: /test_batch/ },
    { name: "CIFAR: CIFAR-100 records in a CIFAR-10 folder", args: [...LOAD, "--data", await writeCifar10(join(dir, "cifar-100"), { file: "data_batch_1.bin", bytes: cifarBytes([[1, 40], [2, 50], [3, 60]]) })], names: /data_batch_1/ },
    // Image folders (Imagenette layout)
    { name: "JPEG: truncated image", args: [...RESNET, "--data", await writeImagenette(join(dir, "jpeg-cut"), await truncatedJpeg())], names: /img_0\.JPEG/ },
    { name: "JPEG: noise after a JPEG header", args: [...RESNET, "--data", await writeImagenette(join(dir, "jpeg-noise"), garbageJpeg())], names: /img_0\.JPEG/ },
    { name: "JPEG: empty image file", args: [...RESNET, "--data", await writeImagenette(join(dir, "jpeg-empty"), new Uint8Array(0))], names: /img_0\.JPEG/ },
    { name: "JPEG: class folder without images", args: [...RESNET, "--data", await writeImagenette(join(dir, "jpeg-none"), "no-images")], names: /n03000684/ },
    // NaN / negative / zero / empty / huge hyper-parameters
    flag("--lr nan", ["--lr", "nan"], /--lr/),
    flag("--lr -1", ["--lr", "-1"], /--lr/),
    flag("--lr 0", ["--lr", "0"], /--lr/),
    flag("--lw-lr inf", ["--lw-lr", "inf"], /--lw-lr/),
    flag("--lw-momentum NaN", ["--lw-momentum", "NaN"], /--lw-momentum/),
    flag("--alpha -1", ["--alpha", "-1"], /--alpha/),
    flag("--epochs 0", ["--epochs", "0"], /--epochs/),
    flag("--epochs 1e12", ["--epochs", "1e12"], /--epochs/),
    flag("--epochs 2.5", ["--epochs", "2.5"], /--epochs/),
    flag("--epochs '' (empty)", ["--epochs", ""], /--epochs/),
    flag("--lw-max-epochs 1e12", ["--lw-max-epochs", "1e12"], /--lw-max-epochs/),
    flag("--batch 0", ["--batch", "0"], /--batch/),
    flag("--batch -3", ["--batch", "-3"], /--batch/),
    flag("--lw-batch 1", ["--lw-batch", "1"], /--lw-batch/),
    flag("--lw-batch 1e9 (more than the data)", ["--lw-batch", "1000000000"], /--lw-batch/),
    flag("--subset -5", ["--subset", "-5"], /--subset/),
    flag("--subset 1e8 (more than the data)", ["--subset", "100000000"], /--subset/),
    flag("--seed -1", ["--seed", "-1"], /--seed/),
    flag("--seed 1e300", ["--seed", "1e300"], /--seed/),
    // Unknown names
    { name: "--model nope", args: ["run", "pipelines/baseline.ts", "--quick", "--threads", "1", "--model", "nope"], names: /--model/ },
    flag("--backend nope", ["--backend", "nope"], /--backend/),
    { name: "--dataset nope", args: [...RESNET.filter((a) => a !== "imagenette" && a !== "--dataset"), "--dataset", "nope"], names: /--dataset/ },
    flag("--activations nope", ["--activations", "nope"], /--activations/, GRID.filter((a) => a !== "--activations" && a !== "relu")),
    flag("--lw-optimizer nope", ["--lw-optimizer", "nope"], /--lw-optimizer/),
    flag("unknown flag --bogus", ["--bogus", "1"], /--bogus/),
    // Where it writes
    { ...flag("--out under a regular file", [], /a-regular-file/), out: join(aFile, "out") },
    { ...flag("--out in /proc", [], /\/proc\/lwi-chaos/), out: "/proc/lwi-chaos/out" },
    { ...flag("--cache under a regular file", [], /a-regular-file/), cache: join(aFile, "cache") },
    // A full disk, simulated: a file may not grow past 128 KiB, so writing the prepared dataset (about 470 KB) fails
    // with EFBIG (SIGXFSZ ignored, so the write returns the error). A cache of its own: nothing may be cached yet.
    {
      ...flag("full disk (ulimit -f 128, EFBIG)", [], /EFBIG|too large|no space|full/i),
      wrap: ["bash", "-c", "trap '' XFSZ; ulimit -f 128; exec \"$@\"", "bash"],
      cache: join(dir, "full-disk-cache")
    }
  ]
  // Today this starts a million threads and brings the machine to its knees (load average in the hundreds), so it
  // runs only in the long form and is killed after 15 s: the flag has no upper bound (shared/backend/setup.ts).
  if (long) cases.push({ ...flag("--threads 1000000", ["--threads", "1000000"], /--threads/), timeoutMs: 15_000 })
  return cases
}

export const runBadInputs = async (o: BadInputOptions): Promise<ReadonlyArray<BadResult>> => {
  const cache = join(o.workDir, "shared-cache")
  await mkdir(cache, { recursive: true })
  const cases = (await badCases(join(o.workDir, "data"), o.long)).filter((c) => !o.only || o.only.test(c.name))
  const results: BadResult[] = []
  for (const [i, c] of cases.entries()) {
    const out = c.out ?? join(o.workDir, `out-${i}`)
    const caseCache = c.cache ?? cache
    const run = await runProcess({ args: [...c.args, "--cache", caseCache, "--out", out], ...(c.wrap ? { wrap: c.wrap } : {}), timeoutMs: c.timeoutMs ?? o.timeoutMs })
    const text = run.lines.map((l) => l.text)
    const problems: string[] = []
    if (run.timedOut) problems.push(`still running after ${(c.timeoutMs ?? o.timeoutMs) / 1000} s (killed)`)
    else if (run.exitCode === 0) problems.push("exited 0")
    const errorAt = text.findIndex((l) => /^error: /.test(l))
    const error = errorAt >= 0 ? text.slice(errorAt).join("\n") : ""
    if (errorAt < 0) problems.push("no `error: ` line")
    else {
      if (!c.names.test(error)) problems.push(`the error does not name ${c.names.source}`)
      if (!FIX.test(error)) problems.push("the error says nothing the user can do (no expected value, no fix)")
    }
    if (text.some((l) => /^\s{4}at |internal error/.test(l))) problems.push("prints a stack trace")
    for (const f of ["results.json", "report.md"]) {
      if (await stat(join(out, f)).catch(() => undefined)) problems.push(`wrote ${f} in --out`)
    }
    const tmp = [...(await listFiles(out)), ...(await listFiles(caseCache))].filter((f) => f.endsWith(".tmp"))
    if (tmp.length > 0) problems.push(`left ${tmp.join(", ")}`)
    const audit = await auditCache(cache)
    if (audit.bad.length > 0) problems.push(`cache holds bad files: ${audit.bad.join("; ")}`)
    results.push({ name: c.name, ok: problems.length === 0, problems })
    const shown = errorAt >= 0 ? text[errorAt]!.slice(0, 160) : text.at(-1)?.slice(0, 160) ?? "(no output)"
    o.log(`  ${problems.length === 0 ? "ok  " : "FAIL"} ${c.name} (exit ${run.exitCode}): ${shown}${problems.length ? `\n    ${problems.join("\n    ")}` : ""}`)
  }
  // The shared cache must be as good as new: a good command on it runs without a warning.
  const goodRun = await runProcess({
    args: [...GRID, ...SMALL, "--data", join(o.workDir, "data", "good-mnist"), "--cache", cache, "--out", join(o.workDir, "good-out")],
    timeoutMs: o.timeoutMs
  })
  const warnings = goodRun.lines.filter((l) => /^warning:/.test(l.text)).map((l) => l.text)
  const problems = [
    ...(goodRun.exitCode === 0 ? [] : [`exited ${goodRun.exitCode}: ${goodRun.lines.slice(-3).map((l) => l.text).join(" | ")}`]),
    ...warnings
  ]
  results.push({ name: "a good command on the shared cache afterwards", ok: problems.length === 0, problems })
  o.log(`  ${problems.length === 0 ? "ok  " : "FAIL"} a good command on the shared cache afterwards${problems.length ? `\n    ${problems.join("\n    ")}` : ""}`)
  return results
}
