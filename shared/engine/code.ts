/**
 * The code a step runs, as a hash: the step's module and every project file it imports, transitively (DVC's
 * `deps`, found automatically). This hash is part of every cache key, so editing a file recomputes exactly the steps
 * whose code reaches it, and nothing else: no hand-bumped `version` to forget.
 *
 * What counts as "the code":
 *   - project files (inside the repository, outside node_modules): hashed as Bun transpiles them with whitespace
 *     minified, which drops comments and type annotations, so a comment or a type-only edit changes no key;
 *     `import type` is not followed (it runs nothing). JSON and other files are hashed by content.
 *   - packages (bare specifiers, e.g. `effect`, `@tensorflow/tfjs`): `name@version` from their package.json, not
 *     their files: a library upgrade recomputes the steps that import it.
 *   - runtime built-ins (`node:fs`, `bun:ffi`) are the runtime's; the runtime version is in the key instead.
 * Code a step reaches other than by importing it (the tfjs backend a pipeline registers, a native library) is the
 * environment's part of the key (shared/backend/fingerprint.ts), not this module's.
 *
 * A module that moves or reports results but computes none of them (the store, the progress reporter, error classes)
 * says so with the tag `@lwi-key-neutral` in a comment, with the reason: it is listed in the fingerprint but neither
 * its content nor its imports count, so rewording a progress line or an error message recomputes nothing. Use it only
 * for such modules: a file it imports that a step also reaches another way still counts through that way.
 */
import { existsSync, readFileSync } from "node:fs"
import { dirname, extname, join, relative, resolve, sep } from "node:path"
import { fileURLToPath } from "node:url"
import { canonicalJson, sha256Hex } from "./hash.ts"

export interface CodeFingerprint {
  /** sha256 over the sorted (file, content hash) pairs and package versions below. */
  readonly hash: string
  /** Project files reached, relative to the project root, with the hash of each one's transpiled code. */
  readonly files: Readonly<Record<string, string>>
  /** Packages reached: name → version. */
  readonly packages: Readonly<Record<string, string>>
}

/** The tag, at the start of a comment line (not merely mentioned, as here). */
const NEUTRAL = /^\s*(\*|\/\/)\s*@lwi-key-neutral\b/m

/** Per-file facts, computed once per process: the code is fixed for the life of a process. */
interface FileFacts {
  readonly hash: string
  readonly projectDeps: ReadonlyArray<string>
  readonly packages: Readonly<Record<string, string>>
}

export interface CodeHasher {
  /** The fingerprint of a module (a `file:` URL, e.g. a step's `import.meta.url`, or an absolute path). */
  readonly fingerprint: (module: string) => CodeFingerprint
  readonly root: string
}

const scriptLoaders: Record<string, "ts" | "tsx" | "js" | "jsx"> = {
  ".ts": "ts", ".mts": "ts", ".cts": "ts", ".tsx": "tsx", ".js": "js", ".mjs": "js", ".cjs": "js", ".jsx": "jsx"
}

const isBuiltin = (spec: string) => /^(node|bun):/.test(spec) || !spec.includes("/") && builtinNames.has(spec)
const builtinNames = new Set(["fs", "path", "os", "crypto", "url", "util", "child_process", "events", "stream", "zlib"])

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
const packageName = (spec: string) => {
  const parts = spec.split("/")
  return spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!
}

/** The nearest package.json above `file` that has a name: the package a resolved file belongs to. */
export const owningPackage = (file: string): { name: string; version: string } | undefined => {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    const pj = join(dir, "package.json")
    if (existsSync(pj)) {
      const meta = JSON.parse(readFileSync(pj, "utf8")) as { name?: string; version?: string }
      if (meta.name) return { name: meta.name, version: meta.version ?? "unknown" }
    }
  }
  return undefined
}

/** The project root: the nearest folder above this module holding package.json. */
export const projectRoot = (): string => {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir
  }
  throw new Error("lwi: no package.json above shared/engine/code.ts")
}

export const makeCodeHasher = (root: string = projectRoot()): CodeHasher => {
  const facts = new Map<string, FileFacts>()
  const transpilers = new Map<string, Bun.Transpiler>()
  const transpiler = (loader: "ts" | "tsx" | "js" | "jsx") => {
    let t = transpilers.get(loader)
    if (!t) transpilers.set(loader, (t = new Bun.Transpiler({ loader, minifyWhitespace: true })))
    return t
  }
  const inProject = (file: string) => {
    const rel = relative(root, file)
    return !rel.startsWith("..") && !rel.split(sep).includes("node_modules")
  }

  const factsOf = (file: string): FileFacts => {
    const known = facts.get(file)
    if (known) return known
    const source = readFileSync(file)
    const loader = scriptLoaders[extname(file)]
    if (loader === undefined) {
      const f = { hash: sha256Hex(source), projectDeps: [], packages: {} }
      facts.set(file, f)
      return f
    }
    const text = source.toString("utf8")
    if (NEUTRAL.test(text)) {
      const f = { hash: "neutral", projectDeps: [], packages: {} }
      facts.set(file, f)
      return f
    }
    const t = transpiler(loader)
    const projectDeps: string[] = []
    const packages: Record<string, string> = {}
    for (const imp of t.scanImports(text)) {
      if (isBuiltin(imp.path)) continue
      let target: string
      try {
        target = Bun.resolveSync(imp.path, dirname(file))
      } catch (e) {
        throw new Error(`lwi: ${relative(root, file)} imports "${imp.path}", which does not resolve (${(e as Error).message})`)
      }
      if (isBuiltin(target) || !target.startsWith("/")) continue
      if (inProject(target)) {
        projectDeps.push(target)
      } else {
        const pkg = owningPackage(target)
        packages[pkg?.name ?? packageName(imp.path)] = pkg?.version ?? "unknown"
      }
    }
    const f = { hash: sha256Hex(t.transformSync(text)), projectDeps, packages }
    facts.set(file, f)
    return f
  }

  const fingerprints = new Map<string, CodeFingerprint>()
  const fingerprint = (module: string): CodeFingerprint => {
    const known = fingerprints.get(module)
    if (known) return known
    const fp = walk(module)
    fingerprints.set(module, fp)
    return fp
  }

  /** Every file the module reaches (each file's facts computed once), and the hash over them. */
  const walk = (module: string): CodeFingerprint => {
    const entry = module.startsWith("file:") ? fileURLToPath(module) : resolve(module)
    const files: Record<string, string> = {}
    const packages: Record<string, string> = {}
    const seen = new Set<string>()
    const stack = [entry]
    while (stack.length > 0) {
      const file = stack.pop()!
      if (seen.has(file)) continue
      seen.add(file)
      const f = factsOf(file)
      files[relative(root, file).split(sep).join("/")] = f.hash
      Object.assign(packages, f.packages)
      stack.push(...f.projectDeps)
    }
    return { hash: sha256Hex(canonicalJson({ files, packages })), files, packages }
  }

  return { fingerprint, root }
}
