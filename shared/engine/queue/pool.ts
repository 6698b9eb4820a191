/**
 * Driving a local pool from code (the queue tests and bench/queue-pool.ts): Bun processes whose output is collected
 * as they run, and a run's figures without its wall times, to compare a distributed run with a local one.
 * @lwi-key-neutral — process plumbing for tests and benchmarks; computes nothing a step caches.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { canonicalJson } from "../hash.ts"

export interface Collected {
  readonly proc: Bun.Subprocess
  /** stdout and stderr so far. */
  readonly output: () => string
}

/** `bun run ARGS` in `cwd`, with LWI_CACHE and LWI_QUEUE unset (flags say where). */
export const startBun = (args: ReadonlyArray<string>, cwd: string): Collected => {
  const env = { ...process.env, LWI_CACHE: undefined, LWI_QUEUE: undefined }
  const proc = Bun.spawn([process.execPath, "run", ...args], { cwd, env, stdout: "pipe", stderr: "pipe" })
  let text = ""
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) text += new TextDecoder().decode(chunk)
  }
  void collect(proc.stdout as ReadableStream<Uint8Array>)
  void collect(proc.stderr as ReadableStream<Uint8Array>)
  return { proc, output: () => text }
}

/** Runs a pipeline to completion and returns its results.json (throws with the output's tail when it fails). */
export const runToResults = async (args: ReadonlyArray<string>, cwd: string, out: string): Promise<Record<string, unknown>> => {
  const p = startBun([...args, "--out", out], cwd)
  const code = await p.proc.exited
  if (code !== 0) throw new Error(`${args[0]} exited ${code}: ${p.output().slice(-3000)}`)
  return JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as Record<string, unknown>
}

/** What a run computed, as canonical JSON: `fields` of results.json without wall times (`seconds`, `lwSeconds`). */
export const figuresOf = (results: Readonly<Record<string, unknown>>, fields: ReadonlyArray<string>): string => {
  const strip = (x: unknown): unknown =>
    Array.isArray(x)
      ? x.map(strip)
      : x !== null && typeof x === "object"
        ? Object.fromEntries(Object.entries(x).filter(([k]) => k !== "seconds" && k !== "lwSeconds").map(([k, v]) => [k, strip(v)]))
        : x
  // Canonical: variants finish in any order on workers, so a record's key order may differ from a local run's.
  return canonicalJson(strip(Object.fromEntries(fields.map((f) => [f, results[f]]))))
}
