// A trigger inside the caller's open SqlClient transaction joins it: the run
// exists only if the transaction commits, and `run:trigger` (and the worker's
// wake-up) come only after the commit, never for a rolled-back run.
import { Durably, EventBus, Job } from "@durably/core"
import { DurablyNode } from "@durably/node"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import type { Layer } from "effect"
import { Chunk, Effect, Exit, Queue, Schema } from "effect"
import { join } from "node:path"
import { freshSchemaUrl, pgAvailable } from "../support/postgres.js"
import { tempDir } from "../support/sqlite.js"

const echo = Job.make({ name: "echo", input: Schema.Number, run: (n) => Effect.succeed(n * 10) })

const scenario = Effect.gen(function* () {
  const durably = yield* Durably.Durably
  const sql = yield* SqlClient.SqlClient
  const events = yield* (yield* EventBus.EventBus).subscribeWhere(() => true, (type) => type === "run:trigger")
  const heard = Effect.map(Queue.takeAll(events), (taken) => Chunk.toReadonlyArray(taken).map((event) => event.runId))

  // Rolled back: no run, and nobody heard of it.
  let lostId = ""
  const rolledBack = yield* Effect.exit(
    sql.withTransaction(
      Effect.flatMap(durably.trigger(echo, 1), ({ run }) => {
        lostId = run.id
        return Effect.fail("roll back")
      })
    )
  )
  expect(Exit.isFailure(rolledBack)).toBe(true)
  expect(lostId).not.toBe("")
  yield* Effect.sleep("100 millis")
  expect(yield* heard).toEqual([])
  expect(yield* Effect.flip(durably.getRun(lostId))).toMatchObject({ _tag: "NotFoundError" })

  // Committed: heard of only once the transaction is over, then executed.
  const runId = yield* sql.withTransaction(
    Effect.gen(function* () {
      const { run } = yield* durably.trigger(echo, 2)
      yield* Effect.sleep("100 millis")
      expect(yield* heard).toEqual([])
      return run.id
    })
  )
  const announced = yield* Effect.timeout(Queue.take(events), "5 seconds")
  expect(announced).toMatchObject({ type: "run:trigger", runId, input: 2 })
  expect(yield* Effect.timeout(durably.waitForRun(runId), "10 seconds")).toMatchObject({ status: "completed", output: 20 })
  expect((yield* durably.getRuns()).map((run) => run.id)).toEqual([runId])
})

const run = <E>(layer: Layer.Layer<DurablyNode.Services, E>) => Effect.provide(Effect.scoped(scenario), layer)

describe("a trigger inside the caller's transaction", () => {
  it.scopedLive("SQLite: announced after commit, never after rollback", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* run(DurablyNode.sqlite({ filename: join(dir, "db.sqlite"), jobs: [echo], pollingInterval: "20 millis" }))
    }))

  it.scopedLive.skipIf(!pgAvailable)("PostgreSQL: announced after commit, never after rollback", () =>
    Effect.gen(function* () {
      const url = yield* freshSchemaUrl()
      yield* run(DurablyNode.pg({ url, jobs: [echo], pollingInterval: "20 millis" }))
    }))
})
