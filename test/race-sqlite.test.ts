// Claim races on SQLite between real OS processes: four worker processes open
// one database file (WAL) with `NodeStore.sqlite` and claim when the test tells
// them to, all at the same moment. The test process opens the file too, to
// enqueue runs and to read the table directly. The four processes are forked
// once for the file (forking costs seconds) and open a new database per test.
import { SqlClient } from "@effect/sql"
import { Store } from "@durably/core/Store"
import { NodeStore } from "@durably/node"
import { expect, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { join } from "node:path"
import type { Child, ChildError, Claimed } from "./support/processes.js"
import { childScript, forkChildren, sendAll } from "./support/processes.js"
import { tempDir } from "./support/sqlite.js"

const workerCount = 4
const rounds = 25

/** The worker processes, killed when the file's tests are done. */
class Workers extends Context.Tag("test/Workers")<Workers, ReadonlyArray<Child>>() {
  static readonly layer = Layer.scoped(Workers, forkChildren(workerCount, childScript("sqlite-worker"), []))
}

interface Race {
  readonly store: Context.Tag.Service<Store>
  readonly sql: SqlClient.SqlClient
  readonly workers: ReadonlyArray<Child>
}

/** A new migrated database file, opened by this process and by every worker until the test ends. */
const race = Effect.gen(function* () {
  const workers = yield* Workers
  const dir = yield* tempDir
  const filename = join(dir, "race.db")
  const context = yield* Layer.build(NodeStore.sqlite({ filename }))
  yield* Effect.acquireRelease(sendAll(workers, () => ({ cmd: "open", filename })), () =>
    Effect.orDie(sendAll(workers, () => ({ cmd: "close" })))
  )
  return { store: Context.get(context, Store), sql: Context.get(context, SqlClient.SqlClient), workers } satisfies Race
})

const workerId = (index: number): string => `worker-${index}`

interface Win {
  readonly worker: number
  readonly run: Claimed
}

/** Every worker claims at once; the runs won, each with the worker that won it. */
const claimAtOnce = ({ workers }: Race): Effect.Effect<ReadonlyArray<Win>, ChildError> =>
  Effect.map(
    sendAll(workers, (index) => ({ cmd: "claim", workerId: workerId(index) })),
    (replies) => replies.flatMap((run, worker) => (run === null ? [] : [{ worker, run }]))
  )

/** Each winner completes its run with the lease it won. */
const completeWins = ({ workers }: Race, wins: ReadonlyArray<Win>) =>
  Effect.forEach(wins, ({ run, worker }) =>
    Effect.flatMap(Effect.fromNullable(workers[worker]), (child) =>
      child.send({ cmd: "complete", runId: run.id, generation: run.leaseGeneration })
    )
  )

/** Concurrency keys that have more than one leased run right now. */
const keysLeasedTwice = ({ sql }: Race) =>
  sql<{ concurrency_key: string; leases: number }>`SELECT concurrency_key, COUNT(*) AS leases FROM durably_runs
    WHERE status = 'leased' AND concurrency_key IS NOT NULL
    GROUP BY concurrency_key HAVING COUNT(*) > 1`

const ids = (wins: ReadonlyArray<Win>): Array<string> => wins.map(({ run }) => run.id).sort()

layer(Workers.layer, { excludeTestServices: true })("SQLite store claimed by four processes at once", (it) => {
  it.scoped("exactly one process wins each run, with lease generation 1", () =>
    Effect.gen(function* () {
      const setup = yield* race
      for (let round = 0; round < rounds; round++) {
        const { run } = yield* setup.store.enqueue({ jobName: "race", input: { round } })
        const wins = yield* claimAtOnce(setup)
        const outcome = wins.map(({ run, worker }) => ({
          id: run.id,
          leaseGeneration: run.leaseGeneration,
          ownedByWinner: run.leaseOwner === workerId(worker)
        }))
        expect(outcome, `round ${round}`).toEqual([{ id: run.id, leaseGeneration: 1, ownedByWinner: true }])
      }
      const leased = yield* setup.sql<{ id: string; lease_generation: number }>`SELECT id, lease_generation
        FROM durably_runs WHERE status = 'leased'`
      expect(leased.map((row) => Number(row.lease_generation))).toEqual(Array.from({ length: rounds }, () => 1))
    })
  )

  it.scoped("runs sharing a concurrency key are leased one at a time, in trigger order", () =>
    Effect.gen(function* () {
      const setup = yield* race
      const enqueue = (round: number, concurrencyKey?: string) =>
        Effect.map(setup.store.enqueue({ jobName: "race", input: { round }, concurrencyKey }), ({ run }) => run.id)
      const leasedA: Array<string> = []
      const triggeredA: Array<string> = []
      for (let round = 0; round < rounds; round++) {
        const a1 = yield* enqueue(round, "A")
        const a2 = yield* enqueue(round, "A")
        const a3 = yield* enqueue(round, "A")
        const b = yield* enqueue(round, "B")
        const free = yield* enqueue(round)
        triggeredA.push(a1, a2, a3)
        // Each wave: all four claim at once, then the winners complete. Only the
        // oldest "A" run may be leased at a time; "B" and the keyless run go with it.
        const expectedWaves = [[a1, b, free], [a2], [a3], []]
        for (const [wave, expected] of expectedWaves.entries()) {
          const wins = yield* claimAtOnce(setup)
          expect(yield* keysLeasedTwice(setup), `round ${round} wave ${wave}`).toEqual([])
          expect(ids(wins), `round ${round} wave ${wave}`).toEqual([...expected].sort())
          leasedA.push(...wins.filter(({ run }) => run.concurrencyKey === "A").map(({ run }) => run.id))
          yield* completeWins(setup, wins)
        }
      }
      expect(leasedA).toEqual(triggeredA)
    })
  )

  it.scoped("runs with different concurrency keys are all claimed in the same race", () =>
    Effect.gen(function* () {
      const setup = yield* race
      for (let round = 0; round < rounds; round++) {
        const runs = yield* Effect.forEach(["k0", "k1", "k2", "k3"], (concurrencyKey) =>
          Effect.map(setup.store.enqueue({ jobName: "race", input: { round }, concurrencyKey }), ({ run }) => run.id)
        )
        const wins = yield* claimAtOnce(setup)
        expect(ids(wins), `round ${round}`).toEqual([...runs].sort())
        yield* completeWins(setup, wins)
      }
    })
  )

  it.scoped("four processes draining 200 runs claim and complete each exactly once", () =>
    Effect.gen(function* () {
      const setup = yield* race
      const enqueued = yield* setup.store.enqueueBatch(
        Array.from({ length: 200 }, (_, index) => ({ jobName: "bulk", input: { index } }))
      )
      const drained = yield* sendAll(setup.workers, (index) => ({ cmd: "drain", workerId: workerId(index) }))
      const claimed = drained.flat()
      expect(claimed).toHaveLength(200)
      expect([...claimed].sort()).toEqual(enqueued.map(({ run }) => run.id).sort())
      // The drain was a race, not one worker doing everything.
      expect(drained.filter((ids) => ids.length > 0).length).toBeGreaterThanOrEqual(2)
      const rows = yield* setup.sql<{ status: string; lease_generation: number; runs: number }>`SELECT status,
          lease_generation, COUNT(*) AS runs FROM durably_runs GROUP BY status, lease_generation`
      expect(rows.map((row) => ({ ...row, lease_generation: Number(row.lease_generation), runs: Number(row.runs) })))
        .toEqual([{ status: "completed", lease_generation: 1, runs: 200 }])
    })
  )
})
