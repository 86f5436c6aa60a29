// The child side of test/support/processes.ts: answer the parent's commands
// over IPC, one reply per command (a failure carries the pretty-printed cause).
import { Cause, Effect, Exit } from "effect"
import type { ChildMessage, CommandName, Envelope, Reply, Request } from "../processes.js"

export type Handlers = {
  readonly [K in CommandName]?: (request: Request<K>) => Effect.Effect<Reply<K>, unknown>
}

/** The `cause` chain under each failure and defect (a `StoreError` wraps the `SqlError`, which wraps the driver's error). */
const underlyingCauses = (cause: Cause.Cause<unknown>): string => {
  const lines: Array<string> = []
  for (const error of [...Cause.failures(cause), ...Cause.defects(cause)]) {
    let current: unknown = error
    for (let depth = 0; depth < 5 && typeof current === "object" && current !== null && "cause" in current; depth++) {
      current = current.cause
      const code = typeof current === "object" && current !== null && "code" in current ? ` [${String(current.code)}]` : ""
      lines.push(`caused by: ${current instanceof Error ? `${current.name}: ${current.message}` : String(current)}${code}`)
    }
  }
  return lines.join("\n")
}

const post = (message: ChildMessage): void => {
  if (process.send === undefined) throw new Error("not started with an IPC channel (use test/support/processes.ts)")
  process.send(message)
}

/** Starts answering commands and tells the parent this child is ready. */
export const serve = (handlers: Handlers): void => {
  // The parent went away (test finished or crashed): leave with it.
  process.on("disconnect", () => process.exit(0))
  process.on("message", (envelope: Envelope) => {
    const handler = handlers[envelope.request.cmd] as
      | ((request: Request) => Effect.Effect<unknown, unknown>)
      | undefined
    const effect =
      handler === undefined ? Effect.dieMessage(`unknown command ${envelope.request.cmd}`) : handler(envelope.request)
    void Effect.runPromiseExit(effect).then((exit) =>
      post(
        Exit.isSuccess(exit)
          ? { type: "reply", id: envelope.id, ok: true, value: exit.value }
          : { type: "reply", id: envelope.id, ok: false, error: `${Cause.pretty(exit.cause)}\n${underlyingCauses(exit.cause)}` }
      )
    )
  })
  post({ type: "ready" })
}
