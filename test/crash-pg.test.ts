// Real process death on PostgreSQL: a worker process is SIGKILLed in the middle
// of a step, and a second worker process on the same schema resumes the run
// once the dead worker's lease has expired (the scenario is in
// support/crashScenario.ts).
import { NodeStore } from "@durably/node"
import { describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { crashScenario } from "./support/crashScenario.js"
import { freshSchemaUrl, pgAvailable } from "./support/postgres.js"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  it.scopedLive(
    "a run whose worker process is SIGKILLed inside its second step is resumed by another process after the lease expires, re-running only the unfinished steps",
    () =>
      crashScenario("crash-pg", () =>
        Effect.map(freshSchemaUrl("crash"), (url) => ({ layer: NodeStore.pg({ url }), args: ["pg", url] }))
      ),
    60_000
  )
})
