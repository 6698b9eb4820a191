/**
 * The claim heartbeat, on a thread of its own (shared/engine/claim.ts starts one per held claim): it refreshes the
 * claim file's mtime every `everyMs` while the file still carries our token, whatever the main thread is doing — an
 * LW layer that blocks the event loop in a synchronous kernel for minutes still looks alive to other hosts. It dies
 * with the process (a thread cannot outlive it), so a dead holder's heartbeat stops. Plain node:fs, no imports of the
 * engine: it starts in milliseconds.
 *
 * Messages to the parent: `{ lost: true }` once the claim is no longer ours (then it stops), `{ error }` for a failed
 * beat (it retries at the next one).
 */
import { readFileSync, utimesSync } from "node:fs"
import { parentPort, workerData } from "node:worker_threads"

const { file, token, everyMs } = workerData as { file: string; token: string; everyMs: number }

const beat = () => {
  let owner: { token?: unknown } | undefined
  try {
    // Reading the content opens the file: NFS close-to-open consistency gives the current owner, not a cached one.
    owner = JSON.parse(readFileSync(file, "utf8")) as { token?: unknown }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code !== "ENOENT" && !(e instanceof SyntaxError)) return parentPort?.postMessage({ error: (e as Error).message })
  }
  if (owner?.token !== token) {
    clearInterval(timer)
    return parentPort?.postMessage({ lost: true })
  }
  try {
    const now = new Date()
    utimesSync(file, now, now)
  } catch (e) {
    parentPort?.postMessage({ error: (e as Error).message })
  }
}

const timer = setInterval(beat, everyMs)
beat() // at once: the claim's age counts from its creation, and this thread took a moment to start
