// Child processes for the race tests: real OS processes (forked through tsx)
// that take commands from the test over IPC. A child that exits while it was
// not asked to (crash, uncaught error) fails every pending and later command
// with its exit status and the tail of its stderr, so a crash fails the test.
// Children are killed when the test's scope closes, and exit on their own when
// the test process goes away (the IPC channel disconnects).
import { fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Data, Effect } from "effect"
import type { Scope } from "effect"

const repositoryRoot = fileURLToPath(new URL("../../", import.meta.url))

/** The child scripts, in test/support/children. */
export const childScript = (name: "sqlite-worker" | "migrator"): string =>
  fileURLToPath(new URL(`./children/${name}.ts`, import.meta.url))

// --- protocol ----------------------------------------------------------------

/** A run as a child reports it after claiming it. */
export interface Claimed {
  readonly id: string
  readonly concurrencyKey: string | null
  readonly leaseOwner: string | null
  readonly leaseGeneration: number
}

/** What a migrating child saw: when it started and finished, and the run it could write right after. */
export interface Migrated {
  readonly pid: number
  readonly startedAt: number
  readonly migratedAt: number
  readonly runId: string
  readonly readBack: string
}

/** Every command a child understands, with its reply. */
export interface Commands {
  /** Open a database file with `NodeStore.sqlite` (closing the one open before). */
  readonly open: { readonly request: { readonly filename: string }; readonly reply: null }
  /** Close the open database. */
  readonly close: { readonly request: object; readonly reply: null }
  /** Claim one run (30 s lease) on the child's store. */
  readonly claim: { readonly request: { readonly workerId: string }; readonly reply: Claimed | null }
  /** Complete a run with the lease the child claimed it under. */
  readonly complete: { readonly request: { readonly runId: string; readonly generation: number }; readonly reply: null }
  /** Claim and complete runs until a claim finds none; the ids claimed, in order. */
  readonly drain: { readonly request: { readonly workerId: string }; readonly reply: ReadonlyArray<string> }
  /** Build the store layer on the target (which migrates it), then enqueue a run and read it back. */
  readonly migrate: {
    readonly request: { readonly dialect: "pg" | "sqlite"; readonly target: string }
    readonly reply: Migrated
  }
}

export type CommandName = keyof Commands
export type Request<K extends CommandName = CommandName> = { readonly cmd: K } & Commands[K]["request"]
export type Reply<K extends CommandName> = Commands[K]["reply"]

/** Parent → child. */
export interface Envelope {
  readonly id: number
  readonly request: Request
}

/** Child → parent. */
export type ChildMessage =
  | { readonly type: "ready" }
  | { readonly type: "reply"; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly type: "reply"; readonly id: number; readonly ok: false; readonly error: string }

// --- parent side -------------------------------------------------------------

/** True while a process with this pid exists. */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export class ChildError extends Data.TaggedError("ChildError")<{ readonly message: string }> {}

export interface Child {
  readonly pid: number
  readonly send: <K extends CommandName>(request: Request<K>) => Effect.Effect<Reply<K>, ChildError>
}

const stderrTailLength = 4000

interface Spawned {
  readonly child: Child
  /** Succeeds when the child reports ready, fails if it exits first. */
  readonly ready: Effect.Effect<void, ChildError>
  /** Kills the child (unless it is gone already) and waits until it has exited. */
  readonly stop: Effect.Effect<void>
}

const spawn = (script: string, args: ReadonlyArray<string>): Spawned => {
  const proc = fork(script, [...args], {
    cwd: repositoryRoot,
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "pipe", "pipe", "ipc"]
  })
  const name = `child ${proc.pid ?? "?"} (${[script.split("/").pop() ?? script, ...args].join(" ")})`
  let stderr = ""
  proc.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-stderrTailLength)
  })
  proc.stdout?.resume()

  type Settle = (result: { ok: true; value: unknown } | { ok: false; error: string }) => void
  const pending = new Map<number, Settle>()
  let nextId = 0
  let stopping = false
  /** Set once the child is gone without being stopped: why. */
  let gone: string | undefined
  let markReady: (failure: ChildError | undefined) => void = () => undefined
  const readyOrGone = new Promise<ChildError | undefined>((resolve) => (markReady = resolve))
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()))

  const disappear = (reason: string) => {
    if (stopping || gone !== undefined) return
    gone = reason
    markReady(new ChildError({ message: `${name} ${reason}` }))
    for (const settle of pending.values()) settle({ ok: false, error: reason })
    pending.clear()
  }

  proc.on("message", (message: ChildMessage) => {
    if (message.type === "ready") {
      markReady(undefined)
      return
    }
    const settle = pending.get(message.id)
    pending.delete(message.id)
    settle?.(message.ok ? { ok: true, value: message.value } : { ok: false, error: message.error })
  })
  proc.on("error", (error) => disappear(`failed: ${error.message}`))
  proc.once("exit", (code, signal) =>
    disappear(`exited unexpectedly (code ${code ?? "none"}, signal ${signal ?? "none"})\n--- stderr ---\n${stderr}`)
  )

  const child: Child = {
    pid: proc.pid ?? -1,
    send: <K extends CommandName>(request: Request<K>) =>
      Effect.async<Reply<K>, ChildError>((resume) => {
        if (gone !== undefined) {
          resume(Effect.fail(new ChildError({ message: `${name} is gone, cannot ${request.cmd}: ${gone}` })))
          return
        }
        const id = nextId++
        pending.set(id, (result) =>
          resume(
            result.ok
              ? Effect.succeed(result.value as Reply<K>)
              : Effect.fail(new ChildError({ message: `${name} failed ${request.cmd}:\n${result.error}` }))
          )
        )
        const envelope: Envelope = { id, request }
        proc.send(envelope)
      })
  }

  return {
    child,
    ready: Effect.flatMap(Effect.promise(() => readyOrGone), (failure) =>
      failure === undefined ? Effect.void : Effect.fail(failure)
    ),
    stop: Effect.promise(async () => {
      stopping = true
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGKILL")
        await exited
      }
    })
  }
}

/**
 * Forks `script` with tsx and waits until it reports ready. The child is
 * killed (and waited for) when the scope closes.
 */
export const forkChild = (script: string, args: ReadonlyArray<string>): Effect.Effect<Child, ChildError, Scope.Scope> =>
  Effect.gen(function* () {
    const spawned = yield* Effect.acquireRelease(
      Effect.sync(() => spawn(script, args)),
      ({ stop }) => stop
    )
    yield* spawned.ready
    return spawned.child
  })

/** Forks `count` copies of a script at once and waits until every one is ready. */
export const forkChildren = (
  count: number,
  script: string,
  args: ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<Child>, ChildError, Scope.Scope> =>
  Effect.all(
    Array.from({ length: count }, () => forkChild(script, args)),
    { concurrency: "unbounded" }
  )

/**
 * Sends each child its command at the same moment (every send is issued before
 * any reply is awaited) and collects the replies in child order.
 */
export const sendAll = <K extends CommandName>(
  children: ReadonlyArray<Child>,
  request: (index: number) => Request<K>
): Effect.Effect<ReadonlyArray<Reply<K>>, ChildError> =>
  Effect.all(
    children.map((child, index) => child.send(request(index))),
    { concurrency: "unbounded" }
  )
