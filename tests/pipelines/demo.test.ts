/**
 * The demo pipeline as a user runs it: a real process, real files. Caching across runs, SIGKILL and SIGINT
 * mid-training followed by a resume that ends with the same figures, and usage errors.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

// As `npm test` (--timeout 300000): this file runs real pipeline processes, which takes more than bun's default 5 s on 2 shared
// cores; the same limit alone as in the suite.
setDefaultTimeout(300_000)

const root = path.resolve(import.meta.dir, "../..")
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lwi-demo-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const spawnDemo = (args: string[]) =>
  Bun.spawn([process.execPath, "run", "pipelines/demo.ts", ...args], {
    cwd: root,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, LWI_CACHE: "", LWI_BACKEND: "" }
  })

const runDemo = async (args: string[]) => {
  const p = spawnDemo(args)
  const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited])
  return { code, stderr }
}

const inits = ["xavier-uniform", "kaiming-normal", "random"]
const results = (out: string) => JSON.parse(fs.readFileSync(path.join(out, "results.json"), "utf8"))
const figures = (r: { experiments: Array<Record<string, unknown>> }) =>
  r.experiments.map(({ id, testAccuracy, testLoss, diverged, epochs, finalTrainLoss }) => ({
    id, testAccuracy, testLoss, diverged, epochs, finalTrainLoss
  }))

/** Starts a run, waits until its log shows `marker`, sends `signal`; returns the exit code. */
const interruptAt = async (args: string[], marker: RegExp, signal: "SIGKILL" | "SIGINT") => {
  const p = spawnDemo(args)
  const decoder = new TextDecoder()
  let log = ""
  let sent = false
  // Keep reading after the signal: a closed pipe would make the child's last words fail (EPIPE).
  for await (const chunk of p.stderr) {
    log += decoder.decode(chunk)
    if (!sent && marker.test(log)) {
      p.kill(signal)
      sent = true
    }
  }
  return { code: await p.exited, log }
}

const longer = ["--epochs", "12", "--samples", "3000"]

/** The uninterrupted run both resume tests compare against (run once, on first use). */
let reference: Promise<string> | undefined
const referenceRun = () =>
  (reference ??= (async () => {
    const out = path.join(tmp, "ref")
    expect((await runDemo([...longer, "--cache", path.join(tmp, "cref"), "--out", out])).code).toBe(0)
    return out
  })())

describe("demo pipeline", () => {
  test("a second run reports every step cached, with little engine overhead", async () => {
    const cache = path.join(tmp, "c1")
    const first = await runDemo(["--quick", "--cache", cache, "--out", path.join(tmp, "o1")])
    expect(first.code).toBe(0)
    const r1 = results(path.join(tmp, "o1"))
    expect(r1).toMatchObject({ pipeline: "demo", seed: 0, quick: true })
    expect(["tensorflow", "torch", "wasm", "cpu"]).toContain(r1.backend)
    expect(r1.steps.length).toBe(15) // 3 datasets + 3 × (init, train, evaluate, decision-grid)
    const second = await runDemo(["--quick", "--cache", cache, "--out", path.join(tmp, "o2")])
    expect(second.code).toBe(0)
    const r2 = results(path.join(tmp, "o2"))
    expect(r2.steps.every((s: { cached: boolean }) => s.cached)).toBe(true)
    expect(r2.seconds).toBeLessThan(2)
    expect(figures(r2)).toEqual(figures(r1))
    expect(fs.readFileSync(path.join(tmp, "o2", "report.md"), "utf8")).toContain("## Steps (15, 15 from cache)")
  })

  test("a run writes report.html and its figures: SVGs linked from report.md, all inline in report.html", () => {
    // The first test's run (o1).
    const out = path.join(tmp, "o1")
    const r = results(out)
    expect(r.headline.map((h: { label: string }) => h.label)).toEqual(inits.map((id) => `${id} test accuracy`))
    expect(r.headline.every((h: { value: number; unit: string }) => h.unit === "%" && h.value > 50)).toBe(true)
    // What the figures draw is in results.json: validation per epoch, the monitor, the decision grid.
    const e = r.experiments[0]
    expect(e.history.every((h: { validationAccuracy: number | null }) => typeof h.validationAccuracy === "number")).toBe(true)
    expect(e.monitor.length).toBeGreaterThan(0)
    expect(e.decisionGrid.probability).toHaveLength(30 * 30)

    const md = fs.readFileSync(path.join(out, "report.md"), "utf8")
    const links = [...md.matchAll(/!\[[^\]]*\]\((figures\/[^)]+\.svg)\)/g)].map((m) => m[1]!)
    expect(links).toContain("figures/decision-boundaries.svg")
    expect(links).toContain("figures/training-curves.svg")
    expect(links.length).toBeGreaterThanOrEqual(6)
    for (const link of links) expect(fs.readFileSync(path.join(out, link), "utf8")).toMatch(/^<svg[\s\S]*<path[\s\S]*<\/svg>$/)
    expect(md).not.toContain("**Not drawn**")

    const html = fs.readFileSync(path.join(out, "report.html"), "utf8")
    expect((html.match(/<svg /g) ?? []).length).toBe(2 * links.length)
    expect(/\b(src|href)\s*=\s*["']?\s*(https?:)?\/\//i.test(html)).toBe(false)
    expect(/<script|<link|<img/i.test(html)).toBe(false)
  })

  test("killed with SIGKILL mid-training, a rerun resumes from the checkpoint and ends with the same figures", async () => {
    const reference = await referenceRun()
    const cache = path.join(tmp, "ckill")
    const out = path.join(tmp, "okill")
    const killed = await interruptAt([...longer, "--cache", cache, "--out", out], /train epoch 4\/12: .*done/, "SIGKILL")
    expect(killed.code).not.toBe(0)
    expect(fs.existsSync(path.join(out, "results.json"))).toBe(false)
    expect(fs.readdirSync(path.join(cache, "checkpoints")).length).toBe(1)

    const resumed = await runDemo([...longer, "--cache", cache, "--out", out])
    expect(resumed.code).toBe(0)
    expect(resumed.stderr).toMatch(/resuming at epoch \d+, batch 0/)
    const r = results(out)
    expect(r.steps.filter((s: { resumed: boolean }) => s.resumed).length).toBe(1)
    expect(figures(r)).toEqual(figures(results(reference)))
    expect(fs.readdirSync(path.join(cache, "checkpoints"))).toEqual([])
  })

  test("Ctrl-C (SIGINT) flushes a checkpoint between batches, exits 130, and the rerun resumes", async () => {
    const cache = path.join(tmp, "cint")
    const out = path.join(tmp, "oint")
    const stopped = await interruptAt([...longer, "--cache", cache, "--out", out], /train epoch 2\/12: .*done/, "SIGINT")
    expect(stopped.code).toBe(130)
    expect(stopped.log).toContain("SIGINT: stopping")
    expect(fs.readdirSync(path.join(cache, "checkpoints")).length).toBe(1)
    expect(fs.existsSync(path.join(out, "results.json"))).toBe(false)
    const resumed = await runDemo([...longer, "--cache", cache, "--out", out])
    expect(resumed.code).toBe(0)
    expect(resumed.stderr).toMatch(/resuming at epoch/)
    expect(figures(results(out))).toEqual(figures(results(await referenceRun())))
  })

  test("the study flags: --inits (LSUV on training points), --activation, --optimizer with Adam's lr; unusable values stop it", async () => {
    const out = path.join(tmp, "oflags")
    const args = ["--quick", "--epochs", "2", "--inits", "kaiming-normal,lsuv", "--activation", "tanh", "--optimizer", "adam", "--cache", path.join(tmp, "cflags")]
    const run = await runDemo([...args, "--out", out])
    expect(run.code).toBe(0)
    expect(run.stderr).toContain("lr 0.001: Adam's default (Kingma & Ba); --lr to change")
    const r = results(out)
    expect(r.config).toMatchObject({ optimizer: "adam", lr: 0.001, activation: "tanh", inits: "kaiming-normal,lsuv" })
    expect(r.experiments.map((e: { id: string }) => e.id)).toEqual(["kaiming-normal", "lsuv"])
    const names = r.steps.map((s: { name: string }) => s.name)
    expect(names).toContain("lsuv-init")
    expect(names).toContain("sample-minibatch")
    // Two epochs of Adam on circles beat a coin flip (500 test points: 50 % is chance).
    for (const e of r.experiments) expect(e.testAccuracy).toBeGreaterThan(0.55)
    expect(fs.readFileSync(path.join(out, "report.md"), "utf8")).toContain("2×32 tanh MLP on circles (1000 training points), 2 epochs, Adam lr 0.001, batch 32.")
    // An explicit --lr wins, and no line says otherwise.
    const explicit = await runDemo([...args, "--lr", "0.005", "--out", path.join(tmp, "olr")])
    expect(explicit.code).toBe(0)
    expect(explicit.stderr).not.toContain("Adam's default")
    expect(results(path.join(tmp, "olr")).config.lr).toBe(0.005)

    // An unknown init: a BadConfig naming --inits and the choices, exit 1, nothing written.
    const bad = await runDemo(["--quick", "--inits", "kaiming-normal,lw", "--cache", path.join(tmp, "cflags"), "--out", path.join(tmp, "obad")])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain("--inits = lw; expected a comma-separated list of heuristic")
    expect(fs.existsSync(path.join(tmp, "obad", "results.json"))).toBe(false)
    const badActivation = await runDemo(["--quick", "--activation", "swish", "--out", path.join(tmp, "obad")])
    expect(badActivation.code).toBe(2)
    expect(badActivation.stderr).toContain("--activation must be one of sigmoid, tanh, relu")
    const noDataset = await runDemo(["--quick", "--dataset", "mnist"])
    expect(noDataset.code).toBe(2)
    expect(noDataset.stderr).toContain("unknown flag --dataset")
  })

  test("unknown and invalid flags are usage errors: a clear message and exit 2", async () => {
    const bogus = await runDemo(["--bogus"])
    expect(bogus.code).toBe(2)
    expect(bogus.stderr).toContain("unknown flag --bogus")
    const bad = await runDemo(["--epochs", "0"])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("--epochs must be at least 1 (was 0)")
    const help = await runDemo(["--help"])
    expect(help.code).toBe(0)
    expect(help.stderr).toContain("--quick")
  })
})
