// With `synchronous = FULL` the step and terminal writes of runs executing at the same
// time share one commit (one fsync), each still answered on its own: a stale
// lease is refused and a failing write fails alone. With NORMAL, and for a run
// writing alone, every write commits by itself at once.
import { DurablyNode } from "@durably/node"
import { NodeStore } from "@durably/node"
import { Durably, Job, Step } from "@durably/core"
import * as SqlStore from "@durably/core/SqlStore"
import type { Lease, StepWrite } from "@durably/core/Store"
import { Store } from "@durably/core/Store"
import { SyncSqlite } from "@durably/core/Internal"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Option, Schema } from "effect"
import { join } from "node:path"
import { freshFile, tempDir } from "./support/sqlite.js"

/** How often the store took the connection (each time a commit of its own, for writes). */
const taken = { count: 0 }

const countingStore = (synchronous: "NORMAL" | "FULL") =>
  freshFile((filename) =>
    SqlStore.layerMigrated.pipe(
      Layer.provide(
        Layer.effect(
          SyncSqlite,
          Effect.map(SyncSqlite, (sync) =>
            SyncSqlite.of({
              ...sync,
              use: (f) =>
                Effect.suspend(() => {
                  taken.count++
                  return sync.use(f)
                })
            })
          )
        )
      ),
      Layer.provideMerge(NodeStore.sqliteClient({ filename, synchronous }))
    )
  )

const step = (name: string): StepWrite => ({ name, index: 0, status: "completed", output: name, startedAt: 0 })

/** `n` claimed runs' leases. */
const leases = (n: number) =>
  Effect.gen(function* () {
    const store = yield* Store
    yield* store.enqueueBatch(Array.from({ length: n }, (_, i) => ({ jobName: "job", input: i })))
    return yield* Effect.forEach(Array.from({ length: n }), () =>
      Effect.map(store.claim({ workerId: "w", leaseMs: 30_000, jobNames: ["job"] }), (claimed): Lease => {
        const run = Option.getOrThrow(claimed)
        return { runId: run.id, generation: run.leaseGeneration }
      })
    )
  })

/** Three claimed runs' leases. */
const threeLeases = Effect.flatMap(leases(3), ([first, second, third]) =>
  first === undefined || second === undefined || third === undefined
    ? Effect.dieMessage("expected three leases")
    : Effect.succeed([first, second, third] as const)
)

/** Each lease writing step `name` at once; per write "ok" or its error's tag. */
const writeAtOnce = (held: ReadonlyArray<Lease>, name: string) =>
  Effect.flatMap(Store, (store) =>
    Effect.map(
      Effect.all(
        held.map((lease) => Effect.either(store.persistStep(lease, step(name)))),
        { concurrency: "unbounded" }
      ),
      (results) => results.map((r) => (Either.isLeft(r) ? r.left._tag : "ok"))
    )
  )

/** The connection uses that `effect` makes. */
const counted = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const before = taken.count
    const result = yield* effect
    return { result, uses: taken.count - before }
  })

/** Four claimed runs each writing step "a" at once; the leases and the connection uses it took. */
const fourAtOnce = Effect.gen(function* () {
  const store = yield* Store
  const held = yield* leases(4)
  const { uses } = yield* counted(
    Effect.all(
      held.map((lease) => store.persistStep(lease, step("a"))),
      { concurrency: "unbounded" }
    )
  )
  return { held, uses }
})

const completedNames = (runId: string) =>
  Effect.flatMap(Store, (store) =>
    Effect.map(store.getSteps(runId), (steps) => steps.filter((s) => s.status === "completed").map((s) => s.name))
  )

describe("step writes committed together", () => {
  it.layer(countingStore("FULL"))("synchronous = FULL", (it) => {
    it.effect("the writes of four runs at once take one commit, and each is stored", () =>
      Effect.gen(function* () {
        const { held, uses } = yield* fourAtOnce
        expect(uses).toBe(1)
        for (const lease of held) expect(yield* completedNames(lease.runId)).toEqual(["a"])
      })
    )

    it.effect("a stale lease in the group is refused; the others are stored", () =>
      Effect.gen(function* () {
        const [first, second, third] = yield* threeLeases
        const stale: Lease = { ...second, generation: second.generation + 1 }
        expect(yield* writeAtOnce([first, stale, third], "b")).toEqual(["ok", "LeaseLostError", "ok"])
        expect(yield* completedNames(first.runId)).toEqual(["b"])
        expect(yield* completedNames(second.runId)).toEqual([])
        expect(yield* completedNames(third.runId)).toEqual(["b"])
      })
    )

    it.effect("a write that fails fails alone: the others in its group are stored", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const [first, second, third] = yield* threeLeases
        // Storing the same completed step twice breaks the table's key.
        yield* store.persistStep(second, step("c"))
        expect(yield* writeAtOnce([first, second, third], "c")).toEqual(["ok", "StoreError", "ok"])
        expect(yield* completedNames(first.runId)).toEqual(["c"])
        expect(yield* completedNames(third.runId)).toEqual(["c"])
      })
    )

    it.effect("completions join the group, each deleting its own run's step outputs", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const [first, second, third] = yield* threeLeases
        yield* store.persistStep(first, step("e"))
        yield* store.persistStep(third, step("e"))
        const terminal = { deleteSteps: true }
        const { uses } = yield* counted(
          Effect.all(
            [store.complete(first, 1, terminal), store.persistStep(second, step("e")), store.complete(third, 3, terminal)],
            { concurrency: "unbounded" }
          )
        )
        expect(uses).toBe(1)
        expect((yield* store.getRun(first.runId)).status).toBe("completed")
        expect((yield* store.getRun(third.runId)).output).toBe(3)
        expect(yield* completedNames(first.runId)).toEqual([])
        expect(yield* completedNames(second.runId)).toEqual(["e"])
        expect(yield* completedNames(third.runId)).toEqual([])
      })
    )

    it.effect("a write inside the caller's own transaction stays in it, out of any group", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const store = yield* Store
        const [outsider, insider] = yield* leases(2)
        if (outsider === undefined || insider === undefined) return expect.fail("two leases")
        // The outsider's write opens a group; the insider writes while its transaction holds the connection.
        const results = yield* Effect.all(
          [
            Effect.either(store.persistStep(outsider, step("f"))),
            Effect.either(sql.withTransaction(Effect.zipRight(store.persistStep(insider, step("f")), Effect.fail("roll back"))))
          ],
          { concurrency: "unbounded" }
        ).pipe(Effect.timeout("5 seconds"))
        expect(results.map((r) => (Either.isLeft(r) ? r.left : "ok"))).toEqual(["ok", "roll back"])
        expect(yield* completedNames(outsider.runId)).toEqual(["f"])
        expect(yield* completedNames(insider.runId)).toEqual([])
      })
    )

    it.effect("one run writing step after step commits each write by itself", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const [lease] = yield* leases(1)
        if (lease === undefined) return expect.fail("a lease")
        const { uses } = yield* counted(
          Effect.forEach(["d1", "d2", "d3"], (name) => store.persistStep(lease, step(name)))
        )
        expect(uses).toBe(3)
        expect(yield* completedNames(lease.runId)).toEqual(["d1", "d2", "d3"])
        // Its completion, alone too, deletes the step outputs in the same transaction.
        yield* store.complete(lease, "done", { deleteSteps: true })
        expect(yield* completedNames(lease.runId)).toEqual([])
      })
    )
  })

  it.layer(countingStore("NORMAL"))("synchronous = NORMAL", (it) => {
    it.effect("each write commits by itself", () =>
      Effect.gen(function* () {
        const { uses } = yield* fourAtOnce
        expect(uses).toBe(4)
      })
    )
  })

  const fiveSteps = Job.make({
    name: "five-steps",
    input: Schema.Number,
    output: Schema.Number,
    run: (n) =>
      Effect.gen(function* () {
        let total = n
        for (let i = 0; i < 5; i++) total = yield* Step.run(`s${i}`, Effect.succeed(total + i))
        return total
      })
  })

  it.scopedLive("runs executing four at once with FULL all complete, with every step's result", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const durably = yield* Effect.provide(
        Durably.Durably,
        yield* Layer.build(
          DurablyNode.sqlite({
            filename: join(dir, "db.sqlite"),
            synchronous: "FULL",
            jobs: [fiveSteps],
            maxConcurrentRuns: 4,
            preserveSteps: true,
            pollingInterval: "20 millis"
          })
        )
      )
      const triggered = yield* durably.batchTrigger(
        fiveSteps,
        Array.from({ length: 12 }, (_, i) => ({ input: i * 100 }))
      )
      const done = yield* Effect.forEach(triggered, ({ run }) => durably.waitForRun(run.id), { concurrency: "unbounded" })
      expect(done.map((run) => run.output)).toEqual(Array.from({ length: 12 }, (_, i) => i * 100 + 10))
      for (const { run } of triggered) {
        const steps = yield* durably.getSteps(run.id)
        expect(steps.map((s) => s.output)).toEqual([0, 1, 3, 6, 10].map((d) => run.input as number + d))
      }
    })
  )
})
