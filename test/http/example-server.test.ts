// The Node server example (examples/node-server), run for real: started on a
// free port with a temporary database, driven with the requests its README
// shows, then stopped with SIGINT (Ctrl-C), which must end the process.
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterEach, expect, it } from "vitest"

const script = fileURLToPath(new URL("../../examples/node-server/src/main.ts", import.meta.url))

interface Started {
  readonly base: string
  readonly output: () => string
  /** Resolves with the exit code, or `null` for a signal. */
  readonly exited: Promise<number | null>
  readonly child: ChildProcess
}

const children: Array<ChildProcess> = []
const dirs: Array<string> = []
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A port nobody listens on right now. */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))))
    })
  })

const start = async (): Promise<Started> => {
  const dir = mkdtempSync(join(tmpdir(), "durably-example-server-"))
  dirs.push(dir)
  const port = await freePort()
  const child = spawn(process.execPath, ["--import", "tsx", script], {
    env: { ...process.env, PORT: String(port), DURABLY_EXAMPLE_DB: join(dir, "example.db"), SEND_WELCOME_STEP_MS: "100" },
    stdio: ["ignore", "pipe", "pipe"]
  })
  children.push(child)
  let output = ""
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  const base = `http://127.0.0.1:${port}`
  // Up when it says so and answers.
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the example exited with ${child.exitCode}:\n${output}`)
    if (output.includes(`listening on ${base}`)) {
      const answer = await fetch(`${base}/runs`).catch(() => undefined)
      if (answer?.status === 200) break
    }
    if (Date.now() > deadline) throw new Error(`the example never answered on ${base}; output:\n${output}`)
    await sleep(50)
  }
  return { base, child, exited, output: () => output }
}

/** Sends SIGINT and waits up to `ms` for the process to end; `undefined` if it did not. */
const interrupt = async (server: Started, ms = 10_000) => {
  server.child.kill("SIGINT")
  return Promise.race([server.exited.then((code) => ({ code })), sleep(ms).then(() => undefined)])
}

const readAll = async (response: Response) => {
  if (response.body === null) return ""
  const decoder = new TextDecoder()
  let text = ""
  const reader = response.body.getReader()
  for (;;) {
    const chunk = await reader.read()
    if (chunk.done) return text + decoder.decode()
    text += decoder.decode(chunk.value, { stream: true })
  }
}

it("answers the README's requests and stops on Ctrl-C", async () => {
  const server = await start()
  const { base } = server
  for (const line of ["/trigger", "/runs?", "/run?runId=", "/steps?runId=", "curl -N", "/subscribe?runId=", "/cancel?runId=", "/openapi.json", "Ctrl-C"]) {
    expect(server.output()).toContain(line)
  }

  // Trigger.
  const triggered = await fetch(`${base}/trigger`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jobName: "send-welcome", input: { email: "ada@example.com", name: "Ada" }, labels: { team: "growth" } })
  })
  expect(triggered.status).toBe(200)
  const { disposition, runId } = (await triggered.json()) as { runId: string; disposition: string }
  expect(disposition).toBe("created")

  // Its events over SSE, until the run ends (the stream closes by itself).
  const events = fetch(`${base}/subscribe?runId=${runId}`).then(async (response) => {
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toContain("text/event-stream")
    return readAll(response)
  })

  // Poll the run until it completes.
  const deadline = Date.now() + 20_000
  let run: { status: string; output: unknown; labels: unknown; progress: unknown }
  for (;;) {
    const response = await fetch(`${base}/run?runId=${runId}`)
    expect(response.status).toBe(200)
    run = (await response.json()) as typeof run
    if (run.status === "completed" || run.status === "failed") break
    if (Date.now() > deadline) throw new Error(`the run never finished: ${JSON.stringify(run)}`)
    await sleep(50)
  }
  expect(run.status).toBe("completed")
  expect(run.output).toMatchObject({ userId: "user-ada", messageId: expect.stringMatching(/^msg-/) })
  expect(run.labels).toEqual({ team: "growth" })
  expect(run.progress).toEqual({ current: 3, total: 3, message: "email sent" })

  const stream = await events
  const types = stream
    .split("\n\n")
    .filter((frame) => frame.startsWith("data: "))
    .map((frame) => (JSON.parse(frame.slice("data: ".length)) as { type: string }).type)
  expect(types).toContain("step:complete")
  expect(types.at(-1)).toBe("run:complete")

  // Steps.
  const steps = await fetch(`${base}/steps?runId=${runId}`)
  expect(steps.status).toBe(200)
  const records = (await steps.json()) as Array<{ name: string; status: string }>
  expect(records.map((step) => [step.name, step.status])).toEqual([
    ["create-account", "completed"],
    ["render-email", "completed"],
    ["send-email", "completed"]
  ])

  // List, filtered as in the README.
  const runs = await fetch(`${base}/runs?jobName=send-welcome&label.team=growth&limit=10`)
  expect(runs.status).toBe(200)
  expect(((await runs.json()) as Array<{ id: string }>).map((r) => r.id)).toEqual([runId])

  // Cancel a finished run: 409.
  const cancel = await fetch(`${base}/cancel?runId=${runId}`, { method: "POST" })
  expect(cancel.status).toBe(409)
  expect(typeof ((await cancel.json()) as { error: unknown }).error).toBe("string")

  // The OpenAPI document names every route.
  const openapi = await fetch(`${base}/openapi.json`)
  expect(openapi.status).toBe(200)
  const document = (await openapi.json()) as { openapi: string; paths: Record<string, unknown> }
  expect(document.openapi).toMatch(/^3\./)
  for (const path of ["/trigger", "/runs", "/run", "/steps", "/subscribe", "/runs/subscribe", "/cancel", "/retry", "/retrigger"]) {
    expect(Object.keys(document.paths)).toContain(path)
  }

  // Ctrl-C.
  const stopped = await interrupt(server)
  expect(stopped, `still running 10 s after SIGINT; output:\n${server.output()}`).toEqual({ code: 0 })
}, 60_000)

it("stops on Ctrl-C while a client is connected to an event stream (curl -N)", async () => {
  const server = await start()
  // A subscriber to the run list, as `curl -N …/runs/subscribe` in the README: it never ends by itself.
  const controller = new AbortController()
  const response = await fetch(`${server.base}/runs/subscribe?label.team=growth`, { signal: controller.signal })
  expect(response.status).toBe(200)
  const reader = response.body?.getReader()
  const first = await reader?.read()
  expect(new TextDecoder().decode(first?.value)).toContain(": keep-alive")

  const stopped = await interrupt(server)
  // Whatever happened, let the client go; then see whether that was what held the process.
  controller.abort()
  const afterAbort = stopped ?? (await Promise.race([server.exited.then((code) => ({ code })), sleep(5000).then(() => undefined)]))
  expect(
    stopped,
    `still running 10 s after SIGINT with an open event stream (after the client disconnected: ${
      afterAbort === undefined ? "still running" : `exited with ${afterAbort.code}`
    })`
  ).toEqual({ code: 0 })
}, 60_000)
