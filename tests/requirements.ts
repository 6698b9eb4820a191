/**
 * What the headline figures rest on, required by the tests that use it: the `torch` backend (libtorch shim),
 * Fashion-MNIST, and the PyTorch peer (Debian's python3-torch on OpenBLAS, so the peer is not handicapped by the
 * reference BLAS); and what the reports are checked with: headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core, which downloads no browser); and the job server of distributed runs (Debian's redis-server). A test that needs a missing one FAILS, saying what is missing and
 * how to install it: a broken install must not turn into a green run. `scripts/setup.sh` (run by `npm test`)
 * installs all five where apt is at hand.
 *
 * A developer without apt may skip them explicitly: `LWI_ALLOW_MISSING=torch,fashion-mnist,pytorch,chromium,redis` (any subset).
 * Each test skipped that way is printed in one line. CI never sets it.
 */
import { test } from "bun:test"
import { existsSync } from "node:fs"
import { join, resolve } from "node:path"
import { registerTorchBackend } from "../shared/backend/torch/backend.ts"
import { locateDataset } from "../shared/data/locate.ts"

export const REQUIREMENTS = ["torch", "fashion-mnist", "pytorch", "chromium", "redis"] as const
export type Requirement = (typeof REQUIREMENTS)[number]

const root = resolve(import.meta.dir, "..")

/** The interpreter the benchmark peers run with (Debian's python3-torch installs into it). */
export const PYTHON = "/usr/bin/python3"

export interface Missing {
  readonly requirement: Requirement
  /** Why it is missing here (one line). */
  readonly reason: string
  /** How to get it. */
  readonly install: string
}

/** The packages scripts/setup.sh installs for each requirement (keep the two in step). */
const INSTALL: Record<Requirement, string> = {
  torch: "sudo apt-get install libtorch-dev g++ && scripts/build-torch-shim.sh   (or set LWI_LIBTORCH to another libtorch)",
  "fashion-mnist": "sudo apt-get install dataset-fashion-mnist   (or put the IDX files in data/fashion-mnist/, or set LWI_DATA)",
  pytorch: "sudo apt-get install python3-torch libopenblas0-pthread",
  chromium: "sudo apt-get install chromium && npm install   (playwright-core drives Debian's /usr/bin/chromium)",
  redis: "sudo apt-get install redis-server   (the tests start their own server on loopback: shared/engine/queue/server.ts)"
}

const checkTorch = async (): Promise<string | undefined> => {
  const r = await registerTorchBackend({ threads: 2 })
  return r.ok ? undefined : `torch backend unavailable: ${r.reason}`
}

/**
 * The Fashion-MNIST folder the benches and pipelines use: LWI_DATA when set (authoritative), else ./data, else the
 * system folder. Rejects with locateDataset's typed error when there is none (nothing is downloaded).
 */
export const fashionMnistDir = async (): Promise<string> => {
  const dataDir = process.env.LWI_DATA || undefined
  const located = await locateDataset("fashion-mnist", {
    ...(dataDir !== undefined ? { dataDir } : {}),
    projectDataDir: join(root, "data"),
    download: false
  })
  return located.dir
}

const checkFashionMnist = async (): Promise<string | undefined> =>
  fashionMnistDir().then(
    () => undefined,
    (e: unknown) => `Fashion-MNIST not found: ${(e instanceof Error ? e.message : String(e)).split("\n").slice(0, 4).join(" ")}`
  )

/** PyTorch importable by /usr/bin/python3, and the BLAS it loads is OpenBLAS (what BENCHMARKS.md's peer rows use). */
const checkPytorch = async (): Promise<string | undefined> => {
  const script = [
    "import torch",
    "libs = sorted({l.split()[-1] for l in open('/proc/self/maps') if 'blas' in l.rsplit('/', 1)[-1]})",
    "print(torch.__version__, ','.join(libs) or 'none')"
  ].join("\n")
  const p = Bun.spawnSync([PYTHON, "-c", script], { stdout: "pipe", stderr: "pipe" })
  if (p.exitCode !== 0) {
    const err = p.stderr.toString().trim().split("\n").at(-1) ?? `exit ${p.exitCode}`
    return `the PyTorch peer cannot run (${PYTHON} -c "import torch": ${err})`
  }
  const [version, blas = "none"] = p.stdout.toString().trim().split(" ")
  if (!blas.includes("openblas")) {
    return `PyTorch ${version} runs on ${blas}, not OpenBLAS: the peer would be handicapped by the reference BLAS`
  }
  return undefined
}

/** The browser the report tests drive. */
export const CHROMIUM = "/usr/bin/chromium"

/** Debian's Chromium starts headless under playwright-core (loaded here, so a missing package is reported too). */
const checkChromium = async (): Promise<string | undefined> => {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} not found`
  try {
    const { chromium } = await import("playwright-core")
    const browser = await chromium.launch({ executablePath: CHROMIUM, timeout: 60_000 })
    await browser.close()
    return undefined
  } catch (e) {
    return `headless Chromium did not start via playwright-core: ${(e instanceof Error ? e.message : String(e)).split("\n")[0]}`
  }
}

/** The job server of distributed runs: Debian's redis-server, which the queue tests start on a free loopback port. */
const checkRedis = async (): Promise<string | undefined> => {
  const bin = Bun.which("redis-server")
  if (bin === null) return "redis-server not found on PATH"
  const p = Bun.spawnSync([bin, "--version"], { stdout: "pipe", stderr: "pipe" })
  return p.exitCode === 0 ? undefined : `${bin} --version exited ${p.exitCode}`
}

const CHECKS: Record<Requirement, () => Promise<string | undefined>> = {
  torch: checkTorch,
  "fashion-mnist": checkFashionMnist,
  pytorch: checkPytorch,
  chromium: checkChromium,
  redis: checkRedis
}

/** LWI_ALLOW_MISSING parsed; an unknown name is an error (a typo must not make a requirement silently optional). */
export const allowedMissing = (value = process.env.LWI_ALLOW_MISSING ?? ""): ReadonlySet<Requirement> => {
  const names = value.split(",").map((s) => s.trim()).filter((s) => s !== "")
  const unknown = names.filter((n) => !(REQUIREMENTS as ReadonlyArray<string>).includes(n))
  if (unknown.length > 0) {
    throw new Error(`LWI_ALLOW_MISSING: unknown ${unknown.join(", ")}; expected a comma-separated subset of ${REQUIREMENTS.join(",")}`)
  }
  return new Set(names as Requirement[])
}

/** Which of `needs` are missing on this machine, with why and how to install each. */
export const missingOf = async (needs: ReadonlyArray<Requirement>): Promise<ReadonlyArray<Missing>> => {
  const reasons = await Promise.all(needs.map((n) => CHECKS[n]()))
  return needs.flatMap((requirement, i) => {
    const reason = reasons[i]
    return reason === undefined ? [] : [{ requirement, reason, install: INSTALL[requirement] }]
  })
}

/** The message a required test fails with. */
export const missingMessage = (missing: ReadonlyArray<Missing>): string =>
  [
    `missing what this test requires (CI requires it; see tests/requirements.ts):`,
    ...missing.map((m) => `  - ${m.requirement}: ${m.reason}\n    install: ${m.install}`),
    `  (a developer without apt may skip these tests: LWI_ALLOW_MISSING=${missing.map((m) => m.requirement).join(",")})`
  ].join("\n")

type TestFn = () => void | Promise<unknown>
export type RequiredTest = (name: string, fn: TestFn, timeout?: number) => void

/**
 * `test` for tests that need `needs`: the test itself when all are present; when one is missing, a test that fails
 * with what is missing and how to install it; or, when LWI_ALLOW_MISSING lists every missing one, a skip printed in
 * one line.
 */
export const requiring = async (...needs: ReadonlyArray<Requirement>): Promise<RequiredTest> => {
  const allowed = allowedMissing() // parsed even when nothing is missing: a typo there is an error everywhere
  const missing = await missingOf(needs)
  if (missing.length === 0) return (name, fn, timeout) => test(name, fn, timeout)
  if (missing.every((m) => allowed.has(m.requirement))) {
    return (name) => {
      console.warn(`SKIP (LWI_ALLOW_MISSING=${[...allowed].join(",")}): "${name}": ${missing.map((m) => m.reason).join("; ")}`)
      test.skip(name, () => {})
    }
  }
  const message = missingMessage(missing)
  return (name) =>
    test(name, () => {
      throw new Error(message)
    })
}
