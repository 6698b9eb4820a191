/**
 * Where a run's code came from, for results.json: the git commit and whether the tree differed from it, and the
 * versions of the packages the project depends on. (The code each step ran is in its key; this is for people.)
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { projectRoot } from "./code.ts"

export interface CodeProvenance {
  /** HEAD's commit, or null with the reason (no git, not a repository). */
  readonly commit: string | null
  /** Tracked files modified or untracked files present (ignored files, e.g. runs/ and caches, do not count). */
  readonly dirty: boolean | null
  /** The first changed paths when dirty (at most 20), so a reader can tell a stray file from an edited kernel. */
  readonly changes: ReadonlyArray<string>
  readonly note?: string
  /** Installed version of every dependency in package.json (optional ones: "not installed" when absent). */
  readonly packages: Readonly<Record<string, string>>
}

const git = (root: string, args: string[]) => {
  try {
    const r = Bun.spawnSync(["git", ...args], { cwd: root, stdout: "pipe", stderr: "pipe" })
    return r.exitCode === 0 ? { ok: true as const, out: r.stdout.toString() } : { ok: false as const, out: r.stderr.toString().trim() }
  } catch (e) {
    return { ok: false as const, out: (e as Error).message }
  }
}

const installedVersion = (root: string, name: string): string => {
  const pj = join(root, "node_modules", name, "package.json")
  if (!existsSync(pj)) return "not installed"
  return (JSON.parse(readFileSync(pj, "utf8")) as { version?: string }).version ?? "unknown"
}

export const codeProvenance = (root: string = projectRoot()): CodeProvenance => {
  const meta = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as Record<string, Record<string, string> | undefined>
  const names = [
    ...Object.keys(meta.dependencies ?? {}),
    ...Object.keys(meta.optionalDependencies ?? {}),
    ...Object.keys(meta.devDependencies ?? {})
  ].sort()
  const packages = Object.fromEntries(names.map((n) => [n, installedVersion(root, n)]))
  const head = git(root, ["rev-parse", "HEAD"])
  if (!head.ok) return { commit: null, dirty: null, changes: [], note: `no git commit: ${head.out.split("\n")[0]}`, packages }
  const status = git(root, ["status", "--porcelain", "--untracked-files=all"])
  const changes = status.ok ? status.out.split("\n").filter((l) => l.trim() !== "").map((l) => l.slice(3)) : []
  return {
    commit: head.out.trim(),
    dirty: status.ok ? changes.length > 0 : null,
    changes: changes.slice(0, 20),
    ...(status.ok ? {} : { note: `git status failed: ${status.out.split("\n")[0]}` }),
    packages
  }
}
