// A process that migrates a database when the parent says "migrate": it builds
// `NodeStore.pg` or `NodeStore.sqlite` on the target (the layer migrates when
// built), then at once enqueues a run and reads it back, and closes the store.
// Several of these are sent "migrate" at the same moment to race the migration.
import { Store } from "@durably/core/Store"
import { NodeStore } from "@durably/node"
import { Context, Effect, Layer } from "effect"
import { serve } from "./serve.js"

serve({
  migrate: ({ dialect, target }) =>
    Effect.scoped(
      Effect.gen(function* () {
        const startedAt = Date.now()
        const layer: Layer.Layer<Store, unknown> =
          dialect === "pg" ? NodeStore.pg({ url: target }) : NodeStore.sqlite({ filename: target })
        const context = yield* Layer.build(layer)
        const migratedAt = Date.now()
        const store = Context.get(context, Store)
        const { run } = yield* store.enqueue({ jobName: "after-migration", input: { pid: process.pid } })
        const readBack = yield* store.getRun(run.id)
        return { pid: process.pid, startedAt, migratedAt, runId: run.id, readBack: readBack.id }
      })
    )
})
