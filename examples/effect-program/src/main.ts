// An Effect program that defines a job using its own service, runs it on an
// embedded SQLite file and prints each event as it happens.
//
//   npx -y pnpm@10 --filter @durably/example-effect-program start
import { Durably, Job, Step } from "@durably/core"
import { DurablyNode } from "@durably/node"
import { Console, Context, Effect, Layer, Schema, Stream } from "effect"
import { mkdirSync } from "node:fs"
import { join } from "node:path"

// A service of the user's own: the job's requirements include it, and the
// layer that runs jobs must provide it (checked by the type system).
class Orders extends Context.Tag("example/Orders")<
  Orders,
  { readonly fetchPage: (page: number) => Effect.Effect<ReadonlyArray<{ id: string; total: number }>> }
>() {}

const OrdersLive = Layer.succeed(Orders, {
  fetchPage: (page) =>
    Effect.as(
      Effect.sleep("150 millis"),
      Array.from({ length: 3 }, (_, i) => ({ id: `order-${page}-${i}`, total: (page + 1) * 10 + i }))
    )
})

const Order = Schema.Struct({ id: Schema.String, total: Schema.Number })

const ImportResult = Schema.Struct({ imported: Schema.Number, revenue: Schema.Number, finishedAt: Schema.Date })

const importOrders = Job.make({
  name: "import-orders",
  input: Schema.Struct({ pages: Schema.Number }),
  output: ImportResult,
  run: ({ pages }) =>
    Effect.gen(function* () {
      const orders = yield* Orders
      let all: ReadonlyArray<typeof Order.Type> = []
      for (let page = 0; page < pages; page++) {
        // Each page is a durable step: after a crash, finished pages are not fetched again.
        const batch = yield* Step.run(`fetch-page-${page}`, orders.fetchPage(page), { schema: Schema.Array(Order) })
        all = [...all, ...batch]
        yield* Step.progress(page + 1, pages, `page ${page + 1} of ${pages}`)
      }
      const revenue = yield* Step.run("sum", Effect.succeed(all.reduce((sum, order) => sum + order.total, 0)))
      yield* Step.log.info("imported", { orders: all.length })
      // A `Date` survives the round trip through the database thanks to the step's schema.
      const finishedAt = yield* Step.run("stamp", Effect.sync(() => new Date()), { schema: Schema.Date })
      return { imported: all.length, revenue, finishedAt }
    })
})

const dataDir = join(import.meta.dirname, "..", ".data")
mkdirSync(dataDir, { recursive: true })
const filename = join(dataDir, "effect-program.db")

const DurablyLive = DurablyNode.sqlite({ filename, jobs: [importOrders], pollingInterval: "50 millis" }).pipe(
  Layer.provide(OrdersLive)
)

const program = Effect.gen(function* () {
  const durably = yield* Durably.Durably
  yield* Console.log(`database: ${filename}`)
  const { run } = yield* durably.trigger(importOrders, { pages: 4 })
  yield* Console.log(`triggered run ${run.id}`)
  yield* durably.subscribe(run.id).pipe(
    Stream.runForEach((event) =>
      Console.log(
        event.type === "run:progress"
          ? `  progress ${event.progress.current}/${event.progress.total ?? "?"}`
          : `  ${event.type}${event.type.startsWith("step:") && "stepName" in event ? ` ${event.stepName}` : ""}`
      )
    )
  )
  const done = yield* durably.waitForRun(run.id)
  const output = yield* Schema.decodeUnknown(ImportResult)(done.output)
  yield* Console.log("output:", output)
})

Effect.runPromise(program.pipe(Effect.provide(DurablyLive)))
