// The Durably HTTP API on a Node server: one job, an embedded SQLite file, and
// every route (plus /openapi.json) on http://127.0.0.1:3000. Ctrl-C stops it
// gracefully: the server closes, open event streams end, and a run in flight
// finishes its step (or is picked up again at the next start).
//
//   npx -y pnpm@10 --filter @durably/example-node-server start
//
// Settings: PORT (default 3000), HOST (default 127.0.0.1), DURABLY_EXAMPLE_DB
// (default examples/node-server/.data/node-server.db), SEND_WELCOME_STEP_MS
// (how long each step of the job takes; default 400).
import { Job, Step } from "@durably/core"
import { DurablyNode, NodeHttp } from "@durably/node"
import { HttpServer } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Schema } from "effect"
import { mkdirSync } from "node:fs"
import { dirname, join } from "node:path"

const stepMs = Number(process.env.SEND_WELCOME_STEP_MS ?? 400)

// A job of three durable steps, reporting its progress after each one. After a
// crash or a Ctrl-C, a finished step is not run again: its stored output is used.
const sendWelcome = Job.make({
  name: "send-welcome",
  input: Schema.Struct({ email: Schema.String, name: Schema.optional(Schema.String) }),
  output: Schema.Struct({ userId: Schema.String, messageId: Schema.String }),
  run: ({ email, name }) =>
    Effect.gen(function* () {
      const userId = yield* Step.run(
        "create-account",
        Effect.as(Effect.sleep(stepMs), `user-${email.split("@")[0] ?? "anonymous"}`)
      )
      yield* Step.progress(1, 3, "account created")
      const body = yield* Step.run(
        "render-email",
        Effect.as(Effect.sleep(stepMs), `Hello ${name ?? email}, welcome aboard!`)
      )
      yield* Step.progress(2, 3, "email rendered")
      const messageId = yield* Step.run(
        "send-email",
        Effect.as(Effect.sleep(stepMs), `msg-${body.length}-${Date.now().toString(36)}`)
      )
      yield* Step.progress(3, 3, "email sent")
      yield* Step.log.info("welcome email sent", { to: email, messageId })
      return { userId, messageId }
    })
})

const filename = process.env.DURABLY_EXAMPLE_DB ?? join(import.meta.dirname, "..", ".data", "node-server.db")
mkdirSync(dirname(filename), { recursive: true })

const port = Number(process.env.PORT ?? 3000)
const host = process.env.HOST ?? "127.0.0.1"

/** Says where the server listens and how to talk to it, once it listens. */
const Banner = Layer.effectDiscard(
  Effect.gen(function* () {
    const { address } = yield* HttpServer.HttpServer
    const url = address._tag === "TcpAddress" ? `http://${address.hostname}:${address.port}` : `unix:${address.path}`
    yield* Console.log(
      [
        `Durably HTTP API listening on ${url}`,
        `database: ${filename}`,
        "",
        "Try:",
        `  curl -s -X POST ${url}/trigger -H 'content-type: application/json' \\`,
        `       -d '{"jobName":"send-welcome","input":{"email":"ada@example.com","name":"Ada"},"labels":{"team":"growth"}}'`,
        `  curl -s '${url}/runs?jobName=send-welcome&limit=10'`,
        `  curl -s '${url}/run?runId=RUN_ID'`,
        `  curl -s '${url}/steps?runId=RUN_ID'`,
        `  curl -N '${url}/subscribe?runId=RUN_ID'`,
        `  curl -N '${url}/runs/subscribe?label.team=growth'`,
        `  curl -s -X POST '${url}/cancel?runId=RUN_ID'`,
        `  curl -s ${url}/openapi.json`,
        "",
        "Ctrl-C to stop."
      ].join("\n")
    )
  })
)

// `preserveSteps` keeps each step's output after the run finishes, so GET /steps has something to show.
const DurablyLive = DurablyNode.sqlite({
  filename,
  jobs: [sendWelcome],
  pollingInterval: "100 millis",
  preserveSteps: true,
  shutdownTimeout: "10 seconds"
})

const Main = Banner.pipe(Layer.provideMerge(NodeHttp.server({ port, host })), Layer.provide(DurablyLive))

// Runs until Ctrl-C (SIGINT) or SIGTERM, then closes every layer in reverse order.
Layer.launch(Main).pipe(NodeRuntime.runMain)
