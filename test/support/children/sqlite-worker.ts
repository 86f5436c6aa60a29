// A worker process for SQLite races: opens a database file with
// `NodeStore.sqlite` (which migrates) when told to, then claims and completes
// runs on it when the parent says so. One process serves several tests, each
// on a file of its own.
import { Store } from "@durably/core/Store"
import type { Run } from "@durably/core/Run"
import { NodeStore } from "@durably/node"
import { Context, Effect, Exit, Layer, Option, Scope } from "effect"
import type { Claimed } from "../processes.js"
import { serve } from "./serve.js"

const leaseMs = 30_000

let open: { readonly store: Context.Tag.Service<Store>; readonly scope: Scope.CloseableScope } | undefined

const close = Effect.suspend(() => {
  const current = open
  open = undefined
  return current === undefined ? Effect.void : Scope.close(current.scope, Exit.void)
})

const store = Effect.suspend(() =>
  open === undefined ? Effect.dieMessage("no database is open: send open first") : Effect.succeed(open.store)
)

const claimed = (run: Run): Claimed => ({
  id: run.id,
  concurrencyKey: run.concurrencyKey,
  leaseOwner: run.leaseOwner,
  leaseGeneration: run.leaseGeneration
})

const claim = (workerId: string) => Effect.flatMap(store, (store) => store.claim({ workerId, leaseMs, jobNames: ["race", "bulk"] }))

const complete = (runId: string, generation: number) =>
  Effect.flatMap(store, (store) =>
    store.complete({ runId, generation }, { completedBy: process.pid }, { deleteSteps: true })
  )

serve({
  open: ({ filename }) =>
    Effect.gen(function* () {
      yield* close
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(NodeStore.sqlite({ filename }), scope).pipe(
        Effect.onError(() => Scope.close(scope, Exit.void))
      )
      open = { store: Context.get(context, Store), scope }
      return null
    }),
  close: () => Effect.as(close, null),
  claim: ({ workerId }) => Effect.map(claim(workerId), Option.match({ onNone: () => null, onSome: claimed })),
  complete: ({ runId, generation }) => Effect.as(complete(runId, generation), null),
  drain: ({ workerId }) =>
    Effect.gen(function* () {
      const ids: Array<string> = []
      for (;;) {
        const next = yield* claim(workerId)
        if (Option.isNone(next)) return ids
        ids.push(next.value.id)
        yield* complete(next.value.id, next.value.leaseGeneration)
      }
    })
})
