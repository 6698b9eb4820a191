/**
 * results-schema — publishes each pipeline's results.json schema (pipelines/lib/results.ts) as JSON Schema 2020-12,
 * `schemas/<pipeline>.results.schema.json`, for tools that read runs without lwi's code. The files are committed;
 * tests/engine/results.test.ts fails when they are stale.
 *
 *   npx bun run scripts/results-schema.ts           write schemas/
 *   npx bun run scripts/results-schema.ts --check   exit 1, naming the stale files, when schemas/ is not up to date
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { pipelineResults } from "../pipelines/lib/results.ts"
import { resultsJsonSchema } from "../shared/engine/results.ts"

export const SCHEMAS_DIR = path.resolve(import.meta.dir, "..", "schemas")
export const REGENERATE = "npx bun run scripts/results-schema.ts"

/** File name → its text, for every pipeline. */
export const renderSchemas = (): ReadonlyMap<string, string> =>
  new Map(
    Object.entries(pipelineResults).map(([name, schema]) => [
      `${name}.results.schema.json`,
      `${JSON.stringify(resultsJsonSchema(name, schema), null, 2)}\n`
    ])
  )

/** The files in `dir` that differ from what would be written (missing ones included). */
export const staleSchemas = (dir = SCHEMAS_DIR): ReadonlyArray<string> =>
  [...renderSchemas()].flatMap(([file, text]) => {
    const at = path.join(dir, file)
    return existsSync(at) && readFileSync(at, "utf8") === text ? [] : [file]
  })

if (import.meta.main) {
  if (process.argv.includes("--check")) {
    const stale = staleSchemas()
    if (stale.length > 0) {
      console.error(`stale in schemas/: ${stale.join(", ")}\nregenerate: ${REGENERATE}`)
      process.exit(1)
    }
    console.log(`schemas/ is up to date (${renderSchemas().size} files)`)
  } else {
    mkdirSync(SCHEMAS_DIR, { recursive: true })
    for (const [file, text] of renderSchemas()) writeFileSync(path.join(SCHEMAS_DIR, file), text)
    console.log(`wrote ${renderSchemas().size} files to ${path.relative(process.cwd(), SCHEMAS_DIR) || SCHEMAS_DIR}/`)
  }
}
