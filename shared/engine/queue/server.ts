/**
 * The job server of distributed runs: Debian's `redis-server`, started by lwi with its own config file, so tests, CI
 * and users start it with one command and the same settings:
 *
 *   bun run shared/engine/queue/server.ts start [--port 6379] [--bind 127.0.0.1] [--dir .lwi/redis]
 *   bun run shared/engine/queue/server.ts stop [--dir .lwi/redis]
 *
 * Loopback only by default. Binding another address (so workers on other machines can reach it) requires a password
 * from the environment, LWI_REDIS_PASSWORD, which pipelines and workers read too; without one it refuses. Nothing is
 * persisted to disk (`save ""`, no AOF): the queue holds only jobs in flight, results live in the step cache.
 * Tests call `startRedisServer({ dir })` (a free port, a temp dir) and `stop()` it.
 */
import { Schema } from "effect"
import { spawn } from "node:child_process"
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import * as path from "node:path"
import { parseFlagsOrExit } from "../flags.ts"

/** The server could not be started (or a setting was refused); `fix` says what to do. */
export class RedisServerError extends Schema.TaggedError<RedisServerError>()("RedisServerError", {
  reason: Schema.String,
  fix: Schema.String
}) {
  override get message() {
    return `redis-server: ${this.reason}; ${this.fix}`
  }
}

export interface RedisServerOptions {
  /** Where its config, pid and log files go (created). */
  readonly dir: string
  /** 0 (default): a free port. */
  readonly port?: number
  /** 127.0.0.1 by default; any other address needs `password`. */
  readonly bind?: string
  readonly password?: string
  /** Detach (the CLI's `start`); tests keep it as a child. */
  readonly daemonize?: boolean
}

export interface RedisServer {
  /** `redis://HOST:PORT`, without the password (workers read LWI_REDIS_PASSWORD). */
  readonly url: string
  readonly port: number
  readonly pid: number
  readonly stop: () => Promise<void>
}

export const PASSWORD_ENV = "LWI_REDIS_PASSWORD"

const loopback = new Set(["127.0.0.1", "::1", "localhost"])

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address()
      probe.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))))
    })
  })

/** The config file's text; refuses a non-loopback bind without a password. */
export const redisConfig = (o: { port: number; bind: string; dir: string; password?: string | undefined; daemonize: boolean }): string => {
  if (!loopback.has(o.bind) && !o.password) {
    throw new RedisServerError({
      reason: `binding ${o.bind} (not loopback) without a password would open the queue to the network`,
      fix: `set ${PASSWORD_ENV} in the environment of the server, the pipeline and every worker, or bind 127.0.0.1`
    })
  }
  if (o.password !== undefined && /[\s"]/.test(o.password)) {
    throw new RedisServerError({ reason: `${PASSWORD_ENV} contains spaces or quotes`, fix: "choose a password of letters, digits and punctuation" })
  }
  return [
    `port ${o.port}`,
    `bind ${o.bind === "localhost" ? "127.0.0.1" : o.bind}`,
    "protected-mode yes",
    `dir ${o.dir}`,
    'save ""',
    "appendonly no",
    // BullMQ needs keys it holds never to be evicted.
    "maxmemory-policy noeviction",
    `daemonize ${o.daemonize ? "yes" : "no"}`,
    `pidfile ${path.join(o.dir, "redis.pid")}`,
    `logfile ${path.join(o.dir, "redis.log")}`,
    ...(o.password ? [`requirepass ${o.password}`] : [])
  ].join("\n")
}

const ping = (port: number, password: string | undefined) => {
  // The password goes through redis-cli's REDISCLI_AUTH, not `-a`: a command line is readable by every user (ps).
  const env = { ...process.env, ...(password ? { REDISCLI_AUTH: password } : {}) }
  const r = Bun.spawnSync(["redis-cli", "-h", "127.0.0.1", "-p", String(port), "ping"], { stdout: "pipe", stderr: "pipe", env })
  return r.stdout.toString().trim() === "PONG"
}

const bin = (name: string) => {
  const found = Bun.which(name)
  if (found === null) {
    throw new RedisServerError({ reason: `${name} not found on PATH`, fix: "install Debian's redis-server (scripts/setup.sh does: sudo apt-get install redis-server)" })
  }
  return found
}

/** Starts a server and waits until it answers (10 s at most). */
export const startRedisServer = async (options: RedisServerOptions): Promise<RedisServer> => {
  const dir = path.resolve(options.dir)
  mkdirSync(dir, { recursive: true })
  const port = options.port || (await freePort())
  const bind = options.bind ?? "127.0.0.1"
  const daemonize = options.daemonize ?? false
  const config = path.join(dir, "redis.conf")
  // The config holds the password in clear: readable by its owner only, also when an older file is overwritten
  // (writeFileSync's mode applies only to a file it creates).
  writeFileSync(config, redisConfig({ port, bind, dir, password: options.password, daemonize }), { mode: 0o600 })
  chmodSync(config, 0o600)
  bin("redis-cli")
  const child = spawn(bin("redis-server"), [config], { stdio: "ignore", detached: daemonize })
  if (daemonize) child.unref()
  let exited: number | null | undefined
  child.once("exit", (code) => (exited = code))
  for (let waited = 0; !ping(port, options.password); waited += 100) {
    if ((exited !== undefined && !daemonize) || waited > 10_000) {
      child.kill("SIGKILL")
      const log = existsSync(path.join(dir, "redis.log")) ? readFileSync(path.join(dir, "redis.log"), "utf8").trim().split("\n").slice(-3).join(" | ") : ""
      throw new RedisServerError({ reason: `did not start on port ${port} (${log || "no log"})`, fix: `see ${path.join(dir, "redis.log")}; another --port?` })
    }
    await Bun.sleep(100)
  }
  const pid = daemonize ? Number(readFileSync(path.join(dir, "redis.pid"), "utf8").trim()) : child.pid!
  const host = loopback.has(bind) ? "127.0.0.1" : bind
  return {
    url: `redis://${host}:${port}`,
    port,
    pid,
    stop: async () => {
      if (!daemonize && exited !== undefined) return
      process.kill(pid, "SIGTERM")
      for (let i = 0; i < 100 && pidAlive(pid); i++) await Bun.sleep(50)
    }
  }
}

const pidAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Stops the server whose pid file is in `dir` (the CLI's `stop`); false when none runs there. */
export const stopRedisServer = async (dir: string): Promise<boolean> => {
  const file = path.join(path.resolve(dir), "redis.pid")
  if (!existsSync(file)) return false
  const pid = Number(readFileSync(file, "utf8").trim())
  if (!Number.isInteger(pid) || !pidAlive(pid)) {
    rmSync(file, { force: true })
    return false
  }
  process.kill(pid, "SIGTERM")
  for (let i = 0; i < 100 && pidAlive(pid); i++) await Bun.sleep(50)
  return true
}

const cliFlags = {
  port: { kind: "int", default: 6379, check: "1 <= number.integer <= 65535", doc: "port to listen on" },
  bind: { kind: "string", default: "127.0.0.1", doc: `address to listen on; other than loopback needs ${PASSWORD_ENV}` },
  dir: { kind: "string", default: ".lwi/redis", doc: "config, pid and log files" },
  help: { kind: "boolean", default: false, doc: "show this help" }
} as const

if (import.meta.main) {
  const [command, ...rest] = process.argv.slice(2)
  const usage = "usage: bun run shared/engine/queue/server.ts start|stop [--port 6379] [--bind 127.0.0.1] [--dir .lwi/redis]"
  if (command !== "start" && command !== "stop") {
    process.stderr.write(`${usage}\n`)
    process.exit(2)
  }
  const flags = parseFlagsOrExit(cliFlags, rest)
  try {
    if (command === "stop") {
      console.log((await stopRedisServer(flags.dir)) ? `stopped the server of ${flags.dir}` : `no server running from ${flags.dir}`)
    } else {
      const password = process.env[PASSWORD_ENV] || undefined
      const server = await startRedisServer({ dir: flags.dir, port: flags.port, bind: flags.bind, daemonize: true, ...(password ? { password } : {}) })
      console.log(`redis-server ${server.pid} listening: --queue ${server.url}${password ? ` (password: ${PASSWORD_ENV})` : ""}; stop it with: bun run shared/engine/queue/server.ts stop --dir ${flags.dir}`)
    }
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`)
    process.exit(1)
  }
}
