// Claim races on PostgreSQL between independent clients: four `NodeStore.pg`
// layers (four connection pools) on one schema, claiming at the same moment.
import { SqlClient } from "@effect/sql"
import type { Run } from "@durably/core/Run"
import { Store } from "@durably/core/Store"
import { NodeStore } from "@durably/node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import { databaseUrl, pgAvailable, withSearchPath, freshSchemaName } from "./support/postgres.js"

const clientCount = 4
const rounds = 25
const leaseMs = 30_000

interface Client {
  readonly workerId: string
  readonly store: Context.Tag.Service<Store>
  readonly sql: SqlClient.SqlClient
}

/** A fresh schema (dropped at the end of the test) and four clients on it, each with a pool of its own. */
const clients = Effect.gen(function* () {
  const schema = yield* freshSchemaName("race")
  const url = withSearchPath(databaseUrl, schema)
  // One after another: the first layer migrates the schema, the others find it migrated.
  return yield* Effect.forEach(Array.from({ length: clientCount }, (_, index) => index), (index) =>
    Effect.map(
      Layer.build(NodeStore.pg({ url })),
      (context): Client => ({
        workerId: `worker-${index}`,
        store: Context.get(context, Store),
        sql: Context.get(context, SqlClient.SqlClient)
      })
    )
  )
})

interface Win {
  readonly client: Client
  readonly run: Run
}

/** Every client claims at once; the runs won, each with the client that won it. */
const claimAtOnce = (all: ReadonlyArray<Client>) =>
  Effect.map(
    Effect.all(
      all.map((client) =>
        Effect.map(
          client.store.claim({ workerId: client.workerId, leaseMs, jobNames: ["race"] }),
          Option.map((run): Win => ({ client, run }))
        )
      ),
      { concurrency: "unbounded" }
    ),
    (claims) => claims.flatMap(Option.toArray)
  )

/** Each winner completes its run with the lease it won. */
const completeWins = (wins: ReadonlyArray<Win>) =>
  Effect.forEach(wins, ({ client, run }) =>
    client.store.complete({ runId: run.id, generation: run.leaseGeneration }, { completedBy: client.workerId }, {
      deleteSteps: true
    })
  )

/** Concurrency keys that have more than one leased run right now. */
const keysLeasedTwice = (sql: SqlClient.SqlClient) =>
  sql<{ concurrency_key: string; leases: string }>`SELECT concurrency_key, COUNT(*) AS leases FROM durably_runs
    WHERE status = 'leased' AND concurrency_key IS NOT NULL
    GROUP BY concurrency_key HAVING COUNT(*) > 1`

const ids = (wins: ReadonlyArray<Win>): Array<string> => wins.map(({ run }) => run.id).sort()

/** The first client: it triggers every run, so trigger order is id order. */
const first = (all: ReadonlyArray<Client>) => Effect.fromNullable(all[0])

describe.skipIf(!pgAvailable)("PostgreSQL store claimed by four clients at once", () => {
  it.scopedLive("exactly one client wins each run, with lease generation 1", () =>
    Effect.gen(function* () {
      const all = yield* clients
      const { store, sql } = yield* first(all)
      for (let round = 0; round < rounds; round++) {
        const { run } = yield* store.enqueue({ jobName: "race", input: { round } })
        const wins = yield* claimAtOnce(all)
        const outcome = wins.map(({ run, client }) => ({
          id: run.id,
          leaseGeneration: run.leaseGeneration,
          ownedByWinner: run.leaseOwner === client.workerId
        }))
        expect(outcome, `round ${round}`).toEqual([{ id: run.id, leaseGeneration: 1, ownedByWinner: true }])
      }
      const leased = yield* sql<{ lease_generation: number }>`SELECT lease_generation FROM durably_runs
        WHERE status = 'leased'`
      expect(leased.map((row) => Number(row.lease_generation))).toEqual(Array.from({ length: rounds }, () => 1))
    })
  )

  it.scopedLive("runs sharing a concurrency key are leased one at a time, in trigger order", () =>
    Effect.gen(function* () {
      const all = yield* clients
      const { store, sql } = yield* first(all)
      const enqueue = (round: number, concurrencyKey?: string) =>
        Effect.map(store.enqueue({ jobName: "race", input: { round }, concurrencyKey }), ({ run }) => run.id)
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
          const wins = yield* claimAtOnce(all)
          expect(yield* keysLeasedTwice(sql), `round ${round} wave ${wave}`).toEqual([])
          expect(ids(wins), `round ${round} wave ${wave}`).toEqual([...expected].sort())
          leasedA.push(...wins.filter(({ run }) => run.concurrencyKey === "A").map(({ run }) => run.id))
          yield* completeWins(wins)
        }
      }
      expect(leasedA).toEqual(triggeredA)
    })
  )

  it.scopedLive("runs with different concurrency keys are all claimed in the same race", () =>
    Effect.gen(function* () {
      const all = yield* clients
      const { store } = yield* first(all)
      for (let round = 0; round < rounds; round++) {
        const runs = yield* Effect.forEach(["k0", "k1", "k2", "k3"], (concurrencyKey) =>
          Effect.map(store.enqueue({ jobName: "race", input: { round }, concurrencyKey }), ({ run }) => run.id)
        )
        const wins = yield* claimAtOnce(all)
        expect(ids(wins), `round ${round}`).toEqual([...runs].sort())
        yield* completeWins(wins)
      }
    })
  )
})
