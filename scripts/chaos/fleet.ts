// The worker processes of one chaos phase: a fixed number of slots, each
// holding a forked worker (worker.ts, bundled). `killRandom` SIGKILLs one
// worker that is up and forks another in its place. It never takes the last
// worker that is up: a start-up costs a few hundred milliseconds of CPU, and on
// a loaded machine killing every worker the moment it is up would leave none
// working at all. A worker that dies on its
// own is recorded as a crash (the phase then fails) and replaced too.
// `pauseRandom` SIGSTOPs a worker that is up and SIGCONTs it later: if the
// pause outlasts its leases, the process wakes up holding leases that other
// workers have taken over, and tries to write with them.
import type { ChildProcess } from "node:child_process"
import { fork } from "node:child_process"
import type { FromWorker, ToWorker, WorkerConfig } from "./worker.js"

type State = "booting" | "ready" | "paused" | "killed" | "closing" | "gone"

interface Member {
  readonly proc: string
  readonly pid: number
  readonly child: ChildProcess
  state: State
  stderr: string
  readonly spawnedAt: number
  readonly exited: Promise<void>
}

export interface Crash {
  readonly proc: string
  readonly pid: number
  readonly why: string
  readonly stderr: string
}

export interface Kill {
  readonly proc: string
  readonly pid: number
  /** When the signal was sent (journal clock). */
  readonly at: number
}

export interface Pause {
  readonly proc: string
  readonly pid: number
  /** When SIGSTOP was sent (journal clock). */
  readonly at: number
  /** When SIGCONT was sent; undefined while paused. */
  until: number | undefined
}

export interface FleetOptions {
  readonly size: number
  /** The bundled worker. */
  readonly script: string
  /** Prefix of the process ids, e.g. "pg". */
  readonly prefix: string
  readonly config: Omit<WorkerConfig, "proc">
}

const stderrTail = 4000

export const makeFleet = (options: FleetOptions) => {
  const members = new Map<string, Member>()
  const kills: Array<Kill> = []
  const pauses: Array<Pause> = []
  const resumes = new Set<NodeJS.Timeout>()
  const crashes: Array<Crash> = []
  /** How long each worker took from fork to polling, in ms. */
  const startups: Array<number> = []
  let spawned = 0
  let stopping = false

  const spawn = (): Member => {
    const proc = `${options.prefix}${++spawned}`
    const config: WorkerConfig = { ...options.config, proc }
    const child = fork(options.script, [JSON.stringify(config)], {
      // Plain node: the bundle needs no loader, and the coordinator's own (tsx, vitest) must not be inherited.
      execArgv: [],
      stdio: ["ignore", "pipe", "pipe", "ipc"]
    })
    let onExit: () => void = () => undefined
    const member: Member = {
      proc,
      pid: child.pid ?? -1,
      child,
      state: "booting",
      stderr: "",
      spawnedAt: performance.now(),
      exited: new Promise<void>((resolve) => (onExit = resolve))
    }
    members.set(proc, member)
    child.stdout?.resume()
    child.stderr?.on("data", (chunk: Buffer) => {
      member.stderr = (member.stderr + chunk.toString()).slice(-stderrTail)
    })
    child.on("message", (message: FromWorker) => {
      if (message.type === "ready" && member.state === "booting") {
        member.state = "ready"
        startups.push(performance.now() - member.spawnedAt)
      }
      if (message.type === "failed") member.stderr += `\n[reported failure] ${message.error}`
      if (message.type === "closed") child.disconnect()
    })
    child.on("error", (error) => {
      member.stderr += `\n[process error] ${error.message}`
    })
    child.once("exit", (code, signal) => {
      const expected = member.state === "killed" || member.state === "closing"
      member.state = "gone"
      members.delete(proc)
      if (!expected) {
        crashes.push({ proc, pid: member.pid, why: `exited on its own (code ${code ?? "none"}, signal ${signal ?? "none"})`, stderr: member.stderr })
        if (!stopping) spawn()
      }
      onExit()
    })
    return member
  }

  /** A random worker that is up, unless it is the only one. */
  const victim = (): Member | undefined => {
    const up = [...members.values()].filter((member) => member.state === "ready")
    return up.length < Math.min(2, options.size) ? undefined : up[Math.floor(Math.random() * up.length)]
  }

  const resume = (member: Member) => {
    if (member.state !== "paused") return
    member.child.kill("SIGCONT")
    member.state = "ready"
    const pause = pauses.findLast((candidate) => candidate.proc === member.proc)
    if (pause !== undefined) pause.until = performance.timeOrigin + performance.now()
  }

  return {
    start: (): void => {
      for (let index = 0; index < options.size; index++) spawn()
    },
    /** How many workers are up (polling). */
    ready: (): number => [...members.values()].filter((member) => member.state === "ready").length,
    /** SIGKILLs a random worker that is up and forks its replacement; the kill, or undefined when none may be killed. */
    killRandom: (): Kill | undefined => {
      const member = victim()
      if (member === undefined) return undefined
      member.state = "killed"
      const kill: Kill = { proc: member.proc, pid: member.pid, at: performance.timeOrigin + performance.now() }
      member.child.kill("SIGKILL")
      kills.push(kill)
      spawn()
      return kill
    },
    /** SIGSTOPs a random worker that is up for `ms`; the pause, or undefined when none may be paused. */
    pauseRandom: (ms: number): Pause | undefined => {
      const member = victim()
      if (member === undefined) return undefined
      member.state = "paused"
      const pause: Pause = { proc: member.proc, pid: member.pid, at: performance.timeOrigin + performance.now(), until: undefined }
      member.child.kill("SIGSTOP")
      pauses.push(pause)
      const timer = setTimeout(() => {
        resumes.delete(timer)
        resume(member)
      }, ms)
      resumes.add(timer)
      return pause
    },
    /**
     * Stops the fleet: every worker disposes its instance (finishing or handing
     * back what it runs); one that has not exited after `timeoutMs` is SIGKILLed
     * and recorded as a kill.
     */
    stop: async (timeoutMs: number): Promise<void> => {
      stopping = true
      for (const timer of resumes) clearTimeout(timer)
      resumes.clear()
      const live = [...members.values()]
      for (const member of live) resume(member)
      for (const member of live) {
        member.state = "closing"
        const command: ToWorker = { cmd: "close" }
        if (member.child.connected) member.child.send(command)
      }
      const deadline = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref())
      await Promise.race([Promise.all(live.map((member) => member.exited)), deadline])
      for (const member of live) {
        if (member.state === "gone") continue
        kills.push({ proc: member.proc, pid: member.pid, at: performance.timeOrigin + performance.now() })
        member.state = "killed"
        member.child.kill("SIGKILL")
      }
      await Promise.all(live.map((member) => member.exited))
    },
    kills: (): ReadonlyArray<Kill> => kills,
    pauses: (): ReadonlyArray<Pause> => pauses,
    crashes: (): ReadonlyArray<Crash> => crashes,
    spawned: (): number => spawned,
    /** Mean time from fork to polling, in ms. */
    meanStartupMs: (): number => (startups.length === 0 ? 0 : startups.reduce((a, b) => a + b, 0) / startups.length)
  }
}

export type Fleet = ReturnType<typeof makeFleet>
