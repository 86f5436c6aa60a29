// Concurrent PostgreSQL claims over two keyed backlogs (A B A B …, each key
// behind a live lease) once deadlocked on the per-key advisory locks.
import { Store } from "@durably/core/Store"
import { NodeStore } from "@durably/node"
import { expect, it } from "@effect/vitest"
import { Context, Effect, Either, Layer } from "effect"
import { admin, databaseUrl, withSearchPath, freshSchemaName } from "./support/postgres.js"

it.scopedLive("concurrent claims over two keyed backlogs never fail", () =>
  Effect.gen(function* () {
    const schema = yield* freshSchemaName("deadlock")
    const url = withSearchPath(databaseUrl, schema)
    const stores = yield* Effect.forEach([0, 1, 2, 3], () =>
      Effect.map(Layer.build(NodeStore.pg({ url })), (context) => Context.get(context, Store))
    )
    const failures: Array<string> = []
    for (let attempt = 0; attempt < 5; attempt++) {
      const [first] = stores
      if (first === undefined) return
      // Trigger order A B A B A B A B; lease the first A and the first B, so the rest of each key waits.
      for (let i = 0; i < 4; i++) {
        for (const concurrencyKey of ["A", "B"]) yield* first.enqueue({ jobName: "j", input: null, concurrencyKey })
      }
      yield* first.claim({ workerId: "holder", leaseMs: 30_000, jobNames: ["j"] })
      yield* first.claim({ workerId: "holder", leaseMs: 30_000, jobNames: ["j"] })
      // Nothing is claimable now; four claims at once should all return None.
      const claims = yield* Effect.all(
        stores.map((store, i) => Effect.either(store.claim({ workerId: `w${i}`, leaseMs: 30_000, jobNames: ["j"] }))),
        { concurrency: "unbounded" }
      )
      for (const claim of claims) {
        if (Either.isLeft(claim)) failures.push(`${claim.left.message} / ${String((claim.left.cause as { cause?: unknown }).cause)}`)
      }
      yield* Effect.promise(() => admin(`DELETE FROM "${schema}".durably_runs`))
    }
    expect(failures).toEqual([])
  }), 60_000)
