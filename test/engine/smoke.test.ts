import { Durably, Job, Step } from "@durably/core"
import { DurablyNode } from "@durably/node"
import { expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Schema } from "effect"
import { freshFile } from "../support/sqlite.js"

class Greeter extends Context.Tag("Greeter")<Greeter, { readonly greet: (name: string) => string }>() {}

const hello = Job.make({
  name: "hello",
  input: Schema.Struct({ name: Schema.String }),
  output: Schema.Struct({ text: Schema.String, at: Schema.Date }),
  run: ({ name }) =>
    Effect.gen(function* () {
      const greeter = yield* Greeter
      const a = yield* Step.run("one", Effect.succeed(greeter.greet(name)))
      yield* Step.progress(1, 2, "half")
      yield* Step.log.info("said", { a })
      const at = yield* Step.run("two", Effect.succeed(new Date(5)), { schema: Schema.Date })
      return { text: a, at }
    })
})

it.live("a job runs its steps and completes", () =>
  Effect.gen(function* () {
    const durably = yield* Durably.Durably
    const { output } = yield* durably.triggerAndWait(hello, { name: "ada" })
    expect(output.text).toBe("hello ada")
    expect(output.at).toEqual(new Date(5))
  }).pipe(
    Effect.provide(
      freshFile((filename) =>
        DurablyNode.sqlite({ filename, jobs: [hello], pollingInterval: "20 millis" }).pipe(
          Layer.provide(Layer.succeed(Greeter, { greet: (n) => `hello ${n}` }))
        )
      )
    )
  )
)
