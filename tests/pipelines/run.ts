/**
 * Runs a pipeline as a user does: a real process from the repository's root, with no cache, backend or data
 * directory inherited from the developer's environment (each test names its own with flags).
 */
import * as path from "node:path"

const root = path.resolve(import.meta.dir, "../..")

/** `bun run pipelines/<name>.ts ...args`: its exit code and stderr (where the progress and the errors go). */
export const runPipelineProcess = async (name: string, args: ReadonlyArray<string>) => {
  const p = Bun.spawn([process.execPath, "run", `pipelines/${name}.ts`, ...args], {
    cwd: root,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, LWI_CACHE: "", LWI_BACKEND: "", LWI_DATA: "" }
  })
  const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited])
  return { code, stderr }
}
