// Real process death through the Promise facade: a worker process running
// `createDurably` is SIGKILLed inside the second step of a three-step job, and a
// second worker process on the same database resumes the run once the dead
// worker's lease has expired. Step bodies count their executions in a file
// outside the database (children/facade-worker.ts), so the test sees exactly
// which bodies ran again. The test process triggers the run and follows it with
// an instance of its own whose worker is never started.
//
// Runs on SQLite (a temporary file) and on PostgreSQL (a schema of its own).
import { fork } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { createDurably, defineJob } from "durably"
import { describe, expect, it } from "vitest"
import { admin, databaseUrl, pgAvailable, uniqueName, withSearchPath } from "../support/postgres.js"
import { executions } from "../support/counterFile.js"
import { facadeCrashShape } from "./children/facadeCrashJob.js"
import type { Command, Report } from "./children/facade-worker.js"

const script = fileURLToPath(new URL("./children/facade-worker.ts", import.meta.url))
const repositoryRoot = fileURLToPath(new URL("../../", import.meta.url))
/** The lease the children take (see facade-worker.ts). */
const leaseMs = 1500

// --- the job, as the test process knows it ----------------------------------------

/** Same name and schemas as the workers' job; this process only triggers and reads runs, it never executes one. */
const facadeCrash = defineJob({
  ...facadeCrashShape,
  run: async () => {
    throw new Error("the test process never executes runs; the worker processes do")
  }
})

// --- counter file --------------------------------------------------------------------


/** Polls `check` every 20 ms until it holds; fails naming `what` (and `detail()`) after `timeoutMs`. */
const waitUntil = async (
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  detail: () => string = () => ""
): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}. ${detail()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

// --- worker processes ------------------------------------------------------------------

interface WorkerProcess {
  readonly pid: number
  /** Everything the child reported, in order. */
  readonly reports: ReadonlyArray<Report>
  readonly send: (command: Command) => void
  /** The first report `pick` accepts; fails if the child exits or reports a failure first, or after `timeoutMs`. */
  readonly next: <T>(what: string, pick: (report: Report) => T | undefined, timeoutMs?: number) => Promise<T>
  /** SIGKILLs the child (unless it is gone) and waits until it has exited. */
  readonly kill: () => Promise<void>
}

const spawnWorker = (database: string, counterFile: string): WorkerProcess => {
  const child: ChildProcess = fork(script, [database, counterFile], {
    cwd: repositoryRoot,
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "pipe", "pipe", "ipc"]
  })
  const pid = child.pid ?? -1
  const reports: Array<Report> = []
  let stderr = ""
  let exit: string | undefined
  /** Called on every report and on exit. */
  const watchers = new Set<() => void>()
  const notify = () => watchers.forEach((watch) => watch())
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000)
  })
  child.stdout?.resume()
  child.on("message", (message: Report) => {
    reports.push(message)
    notify()
  })
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      exit = `exited (code ${code ?? "none"}, signal ${signal ?? "none"})`
      notify()
      resolve()
    })
  )

  const next = <T>(what: string, pick: (report: Report) => T | undefined, timeoutMs = 30_000): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer)
        watchers.delete(look)
      }
      const fail = (why: string) => {
        settle()
        reject(new Error(`worker ${pid} never reported ${what}: ${why}\n--- stderr ---\n${stderr}`))
      }
      const look = () => {
        for (const report of reports) {
          const picked = pick(report)
          if (picked !== undefined) {
            settle()
            return resolve(picked)
          }
          if (report.type === "failed") return fail(report.error)
        }
        if (exit !== undefined) fail(exit)
      }
      const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs)
      watchers.add(look)
      look()
    })

  return {
    pid,
    reports,
    send: (command) => {
      child.send(command)
    },
    next,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL")
        await exited
      }
    }
  }
}

// --- backends ---------------------------------------------------------------------------

interface Backend {
  readonly label: string
  /** A fresh database in `dir` (or beside it), and how to remove it afterwards. */
  readonly create: (dir: string) => Promise<{ readonly database: string; readonly drop: () => Promise<void> }>
}

const sqlite: Backend = {
  label: "facade-crash-sqlite",
  create: async (dir) => ({ database: join(dir, "crash.db"), drop: async () => undefined })
}

const postgres: Backend = {
  label: "facade-crash-pg",
  create: async () => {
    const schema = uniqueName("facade_crash")
    await admin(`CREATE SCHEMA "${schema}"`)
    return { database: withSearchPath(databaseUrl, schema), drop: () => admin(`DROP SCHEMA "${schema}" CASCADE`) }
  }
}

// --- the scenario --------------------------------------------------------------------------

const crashAndResume = async (backend: Backend): Promise<void> => {
  const dir = mkdtempSync(join(tmpdir(), "durably-facade-crash-"))
  const counterFile = join(dir, "executions.log")
  const { database, drop } = await backend.create(dir)
  const workers: Array<WorkerProcess> = []
  const durably = createDurably({ database, jobs: { facadeCrash }, pollingIntervalMs: 50 })
  try {
    await durably.migrate()
    const run = await durably.jobs.facadeCrash.trigger({ start: 4 })
    expect(run).toMatchObject({ status: "pending", disposition: "created" })
    const ran = () => executions(counterFile)
    const state = async () => JSON.stringify({ run: await durably.getRun(run.id), ran: ran() })

    // Worker A claims the run and hangs inside step "second".
    const a = spawnWorker(database, counterFile)
    workers.push(a)
    await a.next("loaded", (r) => (r.type === "loaded" ? r : undefined))
    a.send({ cmd: "start" })
    await a.next("started", (r) => (r.type === "started" ? r : undefined))
    await waitUntil("worker A is inside step second", () => ran().some((e) => e.step === "second"), 20_000, () => JSON.stringify(ran()))
    expect(ran()).toEqual([
      { step: "first", runId: run.id, pid: a.pid },
      { step: "second", runId: run.id, pid: a.pid }
    ])
    const leasedByA = await a.next("run:leased", (r) => (r.type === "run:leased" && r.runId === run.id ? r : undefined))
    expect(leasedByA).toMatchObject({ leaseOwner: `facade-${a.pid}`, attempt: 1 })

    // While A lives it keeps renewing its lease (no step is written meanwhile).
    await waitUntil(
      "worker A has renewed its lease past the first expiry",
      async () => ((await durably.getRun(run.id))?.leaseExpiresAt?.getTime() ?? 0) > leasedByA.leaseExpiresAt,
      10_000,
      () => ""
    )

    // Worker B's process is loaded (not yet started) so it can start at once after the kill.
    const b = spawnWorker(database, counterFile)
    workers.push(b)
    await b.next("loaded", (r) => (r.type === "loaded" ? r : undefined))

    // SIGKILL A inside step "second".
    await a.kill()
    const killedAt = Date.now()

    b.send({ cmd: "start" })
    const bStarted = await b.next("started", (r) => (r.type === "started" ? r : undefined))

    // The dead worker still holds a live lease; only step "first" is stored.
    const orphaned = await durably.getRun(run.id)
    expect(orphaned).toMatchObject({ status: "leased", leaseOwner: `facade-${a.pid}`, leaseGeneration: 1, attempt: 1 })
    const expiresAt = orphaned?.leaseExpiresAt?.getTime() ?? 0
    expect(expiresAt).toBeGreaterThan(killedAt)
    expect((await durably.getSteps(run.id)).map((step) => [step.name, step.status])).toEqual([["first", "completed"]])
    // B is polling before that lease expires, so it resuming only after the expiry shows it waited.
    expect(bStarted.at).toBeLessThan(expiresAt)

    // B takes the run over once A's lease has expired, and finishes it.
    let done
    try {
      done = await durably.waitForRun(run.id, { timeout: 20_000 })
    } catch (error) {
      throw new Error(`the run did not complete: ${String(error)}; ${await state()}`)
    }
    const completedAfterMs = Date.now() - killedAt
    expect(done).toMatchObject({ status: "completed", error: null, leaseGeneration: 2, attempt: 2, leaseOwner: null })
    // Step "first" came back from the database (computed by the killed process); the rest ran in B.
    expect(done.output).toEqual({ value: (4 + 1) * 10 + 3, pids: { first: a.pid, second: b.pid, third: b.pid } })

    expect(ran()).toEqual([
      { step: "first", runId: run.id, pid: a.pid },
      { step: "second", runId: run.id, pid: a.pid },
      { step: "second", runId: run.id, pid: b.pid },
      { step: "third", runId: run.id, pid: b.pid }
    ])
    const count = (step: string) => ran().filter((execution) => execution.step === step).length
    expect({ first: count("first"), second: count("second"), third: count("third") }).toEqual({ first: 1, second: 2, third: 1 })

    // B claimed the run no earlier than the dead lease's expiry, and promptly after it.
    const leasedByB = await b.next("run:leased", (r) => (r.type === "run:leased" && r.runId === run.id ? r : undefined))
    expect(leasedByB).toMatchObject({ leaseOwner: `facade-${b.pid}`, attempt: 2 })
    expect(leasedByB.at).toBeGreaterThanOrEqual(expiresAt)
    expect(leasedByB.at - expiresAt).toBeLessThan(5_000)
    await b.next("run:complete", (r) => (r.type === "run:complete" && r.runId === run.id ? r : undefined))
    expect(b.reports.filter((r) => r.type === "worker:error")).toEqual([])

    // B is healthy and shuts down cleanly.
    b.send({ cmd: "close" })
    await b.next("closed", (r) => (r.type === "closed" ? r : undefined))
    console.log(
      `[${backend.label}] B started ${expiresAt - bStarted.at} ms before the dead lease expired (${expiresAt - killedAt} ms after the SIGKILL), claimed the run ${leasedByB.at - expiresAt} ms after the expiry, completed it ${completedAfterMs} ms after the SIGKILL (lease ${leaseMs} ms)`
    )
  } finally {
    await Promise.all(workers.map((worker) => worker.kill()))
    await durably.dispose()
    await drop()
    rmSync(dir, { recursive: true, force: true })
  }
}

const scenario =
  "a facade run whose worker process is SIGKILLed inside step 2 is resumed by another process after the lease expires; step 1 runs once, step 2 twice, step 3 once"

describe("SIGKILL and resume through the Promise facade on SQLite", () => {
  it(scenario, () => crashAndResume(sqlite), 60_000)
})

describe.skipIf(!pgAvailable)("SIGKILL and resume through the Promise facade on PostgreSQL", () => {
  it(scenario, () => crashAndResume(postgres), 60_000)
})
