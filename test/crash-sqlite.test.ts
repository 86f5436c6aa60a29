// Real process death on SQLite: a worker process is SIGKILLed in the middle of
// a step, and a second worker process on the same database file resumes the
// run once the dead worker's lease has expired (the scenario is in
// support/crashScenario.ts).
import { NodeStore } from "@durably/node"
import { it } from "@effect/vitest"
import { Effect } from "effect"
import { join } from "node:path"
import { crashScenario } from "./support/crashScenario.js"

it.scopedLive(
  "a run whose worker process is SIGKILLed inside its second step is resumed by another process after the lease expires, re-running only the unfinished steps",
  () =>
    crashScenario("crash-sqlite", (dir) => {
      const filename = join(dir, "crash.db")
      return Effect.succeed({ layer: NodeStore.sqlite({ filename }), args: ["sqlite", filename] })
    }),
  60_000
)
