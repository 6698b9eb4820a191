/**
 * The run index (shared/report/run-index.ts) over a runs directory this test writes: runs listed newest first with
 * their config, status and headline numbers; complete / resumed / diverged decided from results.json; corrupt and
 * foreign results.json listed as unreadable with the reason; two runs of a pipeline side by side; an index.html
 * lwi did not write is left alone. The page itself is opened in Chromium by tests/report/browser.test.ts.
 */
import { afterAll, describe, expect, test } from "bun:test"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { ResultsHead, resultsIssues } from "../../shared/engine/results.ts"
import { flagsText, readRuns, renderIndex, runIndexDir, runStatus, writeRunIndex } from "../../shared/report/run-index.ts"
import { makeTempDir } from "../data/fixtures.ts"

const temp = await makeTempDir("lwi-index-")
afterAll(() => temp.cleanup())

/** A results.json head as main.ts writes it, with `over` on top. */
export const fakeResults = (over: Record<string, unknown> = {}) => ({
  pipeline: "demo",
  seed: 0,
  quick: true,
  backend: "torch",
  startedAt: "2026-12-01T10:00:00.000Z",
  seconds: 12.5,
  machine: { cpu: "test cpu", cores: 2, memoryGiB: 8, platform: "linux x64", runtime: "bun 1.4.5" },
  code: { commit: "0123456789abcdef0123456789abcdef01234567", dirty: false, changes: [], packages: { effect: "4.1.0" } },
  environment: null,
  cache: "/tmp/cache",
  config: { epochs: 1, seed: 0, quick: true },
  flags: { epochs: 1 },
  steps: [{ name: "train", key: "a".repeat(64), cached: false, seconds: 1, resumed: false }],
  headline: [{ label: "kaiming test accuracy", value: 91.5, unit: "%" }],
  experiments: [{ id: "kaiming", diverged: false }],
  ...over
})

const writeRun = (runs: string, dir: string, content: unknown, report = true) => {
  fs.mkdirSync(path.join(runs, dir), { recursive: true })
  fs.writeFileSync(path.join(runs, dir, "results.json"), typeof content === "string" ? content : JSON.stringify(content))
  if (report) fs.writeFileSync(path.join(runs, dir, "report.md"), "# report\n")
}

describe("run status, from results.json", () => {
  test("complete, resumed (a step continued from a checkpoint), diverged (an experiment diverged)", () => {
    expect(runStatus(fakeResults()).status).toEqual(["complete"])
    const resumed = fakeResults({ steps: [{ name: "train", key: "k", cached: false, seconds: 1, resumed: true }] })
    expect(runStatus(resumed)).toEqual({ status: ["resumed"], diverged: [], resumed: ["train"] })
    const diverged = fakeResults({ experiments: [{ id: "ok", diverged: false }, { id: "RAE2", diverged: true }] })
    expect(runStatus(diverged)).toEqual({ status: ["diverged"], diverged: ["RAE2"], resumed: [] })
    // A pipeline without experiments (or with another shape) is complete unless a step resumed.
    expect(runStatus({ ...fakeResults(), experiments: undefined }).status).toEqual(["complete"])
  })

  test("the fake head is a valid head (so the tests below exercise the index, not a bad fixture)", () => {
    expect(resultsIssues(ResultsHead, fakeResults())).toEqual([])
  })

  test("flags are shown in their command-line form", () => {
    expect(flagsText({ epochs: 1, testSubset: 100, fresh: true })).toBe("--epochs 1 --test-subset 100 --fresh")
  })
})

describe("the runs directory's index", () => {
  const runs = path.join(temp.dir, "runs")
  writeRun(runs, "demo-old", fakeResults({ startedAt: "2026-12-01T09:00:00.000Z", seconds: 10, headline: [{ label: "kaiming test accuracy", value: 90, unit: "%" }] }))
  writeRun(runs, "demo-new", fakeResults({ startedAt: "2026-12-01T11:00:00.000Z", flags: { epochs: 1, backend: "wasm" }, backend: "wasm" }))
  writeRun(
    runs,
    "resnet",
    fakeResults({
      pipeline: "resnet-nobn",
      startedAt: "2026-12-01T12:00:00.000Z",
      experiments: [{ id: "RAE2: N(0,1) (no BN)", diverged: true }],
      headline: [{ label: "RAE2 test loss", value: null }]
    })
  )
  writeRun(runs, "corrupt", '{"pipeline": "demo", "seed": 0, ', false)
  writeRun(runs, "foreign", { name: "some other tool", version: 3 }, false)
  fs.mkdirSync(path.join(runs, "cache"), { recursive: true }) // a directory without results.json: not a run

  test("lists every results.json one level down: readable newest first, then the unreadable with the reason", async () => {
    const entries = await readRuns(runs)
    expect(entries.map((e) => e.dir)).toEqual(["resnet", "demo-new", "demo-old", "corrupt", "foreign"])
    const bad = Object.fromEntries(entries.flatMap((e) => (e.ok ? [] : [[e.dir, e.reason]])))
    expect(bad.corrupt).toStartWith("results.json is not JSON")
    expect(bad.foreign).toStartWith("not an lwi results.json: pipeline: Missing key")
  })

  test("the page: runs with config, backend, commit, status, wall time, headline, report link; a side-by-side of two demo runs", async () => {
    const html = renderIndex(runs, await readRuns(runs), new Date("2026-12-02T00:00:00Z"))
    expect(html).toContain(`<td class="nowrap"><a href="demo-new/report.md">demo-new</a></td>`)
    expect(html).toContain("seed 0 --quick --epochs 1 --backend wasm")
    expect(html).toContain("<code>0123456789</code>")
    expect(html).toContain(`<span class="status diverged">diverged</span><div class="why">diverged: RAE2: N(0,1) (no BN)</div>`)
    expect(html).toContain("kaiming test accuracy: <b>91.5 %</b>")
    expect(html).toContain("RAE2 test loss: <b>–</b>")
    expect(html).toContain("unreadable: results.json is not JSON")
    // One comparison, for the only pipeline with two runs: B the newest, A the one before, and the difference.
    expect(html.match(/<section class="compare"/g)?.length).toBe(1)
    expect(html).toContain(`<section class="compare" data-pipeline="demo">`)
    expect(html).toContain("<tr><th>kaiming test accuracy</th><td>90 %</td><td>91.5 %</td><td class=\"num\">1.5 %</td></tr>")
    expect(html).toContain("prefers-color-scheme: dark")
    // Self-contained: nothing fetched.
    expect(html).not.toMatch(/<(link|img)\b|src=|https?:\/\//)
  })

  test("a run's name or label cannot inject markup", async () => {
    const odd = path.join(temp.dir, "odd")
    writeRun(odd, "x<b>", fakeResults({ headline: [{ label: "<script>alert(1)</script>", value: 1 }] }))
    writeRun(odd, "y", fakeResults({ headline: [{ label: "</script><script>alert(2)</script>", value: 2 }] }))
    const html = renderIndex(odd, await readRuns(odd), new Date())
    expect(html).not.toContain("<script>alert")
    expect(html).toContain("&lt;script&gt;alert(1)")
  })

  test("writeRunIndex writes <runs>/index.html, rewrites its own, and leaves an index.html it did not write alone", async () => {
    const written = await Effect.runPromise(writeRunIndex(runs))
    expect(written.file).toBe(path.join(runs, "index.html"))
    expect(written.runs.length).toBe(5)
    expect(await Effect.runPromise(writeRunIndex(runs)).then((w) => w.runs.length)).toBe(5)
    const mine = path.join(temp.dir, "mine")
    fs.mkdirSync(mine)
    fs.writeFileSync(path.join(mine, "index.html"), "<h1>my page</h1>")
    const error = await Effect.runPromise(Effect.flip(writeRunIndex(mine)))
    expect(error._tag).toBe("ForeignIndex")
    expect(error.message).toContain("was not written by lwi: not overwritten")
    expect(fs.readFileSync(path.join(mine, "index.html"), "utf8")).toBe("<h1>my page</h1>")
  })
})

describe("where a run rebuilds the index", () => {
  const around = { cwd: "/work/repo", home: "/home/u", tmp: "/tmp" }
  test("the directory above --out, never a directory shared with everything else", () => {
    expect(runIndexDir("runs/demo", around)).toEqual({ dir: "/work/repo/runs" })
    expect(runIndexDir("/data/runs/a", around)).toEqual({ dir: "/data/runs" })
    for (const [out, what] of [["/tmp/x", "the temp directory"], ["myrun", "the working directory"], ["/home/u/r", "the home directory"], ["/x", "the file-system root"]]) {
      const r = runIndexDir(out!, around)
      expect("reason" in r && r.reason).toContain(what!)
    }
  })
})

describe("npx bun run pipelines/report.ts", () => {
  const root = path.resolve(import.meta.dir, "../..")
  const cli = async (args: string[]) => {
    const p = Bun.spawn([process.execPath, "run", "pipelines/report.ts", ...args], { cwd: root, stdout: "pipe", stderr: "pipe" })
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
    return { stdout, stderr, code }
  }

  test("--run rebuilds a real run's report from its results.json, then the index beside it", async () => {
    const runs = path.join(temp.dir, "real-runs")
    const out = path.join(runs, "demo")
    const p = Bun.spawn(
      [process.execPath, "run", "pipelines/demo.ts", "--quick", "--epochs", "1", "--samples", "200", "--backend", "cpu", "--cache", path.join(temp.dir, "cache"), "--out", out],
      { cwd: root, stdout: "pipe", stderr: "pipe", env: { ...process.env, LWI_CACHE: "", LWI_BACKEND: "" } }
    )
    const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited])
    expect(code, stderr.slice(-2000)).toBe(0)
    // The run rebuilt the index of the directory above its --out.
    expect(fs.readFileSync(path.join(runs, "index.html"), "utf8")).toContain(`<a href="demo/report.html">demo</a>`)
    const before = fs.readFileSync(path.join(out, "report.md"), "utf8")
    fs.rmSync(path.join(out, "report.md"))
    fs.rmSync(path.join(out, "report.html"))
    fs.rmSync(path.join(runs, "index.html"))
    const r = await cli(["--run", out])
    expect(r.code, r.stderr).toBe(0)
    expect(fs.readFileSync(path.join(out, "report.md"), "utf8")).toBe(before)
    expect(fs.existsSync(path.join(out, "report.html"))).toBe(true)
    expect(r.stdout).toContain(`run index: ${path.join(runs, "index.html")} (1 runs)`)
  })

  test("--runs rebuilds an index; a usage error exits 2; a directory that is not a run exits 1 saying why", async () => {
    const runs = path.join(temp.dir, "runs")
    const r = await cli(["--runs", runs])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain("(5 runs, 2 unreadable)")
    expect((await cli(["--bogus"])).code).toBe(2)
    const bad = await cli(["--run", path.join(temp.dir, "nowhere")])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain("BadConfig")
    expect(bad.stderr).toContain("a run directory with a results.json (ENOENT)")
  })
})
