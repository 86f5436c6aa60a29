// The HTTP API as a Web-standard handler: `DurablyHttp.toWebHandler` over a
// `DurablyNode.sqlite` context, and the facade's `createDurablyHandler` over
// `createDurably`, both mounted under `/api/durably`.
import { afterEach, describe, expect, it } from "vitest"
import type { Api } from "./routesSuite.js"
import { basePath, failsWith, ok, openFacadeApi, openWebApi, routesSuite, trigger, waitForStatus } from "./routesSuite.js"

routesSuite("HTTP API: DurablyHttp.toWebHandler", (options) => openWebApi(options))

routesSuite("HTTP API: createDurablyHandler (facade)", (options) => openFacadeApi(options))

describe.each([
  ["toWebHandler", openWebApi],
  ["createDurablyHandler", openFacadeApi]
] as const)("handle(request, basePath) (%s)", (_, openApi) => {
  let api: Api | undefined
  afterEach(async () => {
    await api?.close()
    api = undefined
  })
  const handlerOf = async () => {
    api = await openApi({})
    const { handle } = api
    if (handle === undefined) throw new Error("a Web serving has handle")
    return { api, handle }
  }
  const at = (path: string, init?: RequestInit) => new Request(`http://localhost${path}`, init)

  it("answers the routes under the base path, and 404 {error} for any path outside it", async () => {
    const { handle } = await handlerOf()
    expect(await ok(handle(at(`${basePath}/runs`), basePath))).toEqual([])
    expect(await ok(handle(at(`${basePath}/runs?limit=5`), `${basePath}/`))).toEqual([])
    for (const outside of ["/runs", "/api/runs", "/api/durablyx/runs", "/other/api/durably/runs"]) {
      await failsWith(handle(at(outside), basePath), 404)
    }
    await failsWith(handle(at(basePath), basePath), 404)
  })

  it("without a base path, answers the routes at the root", async () => {
    const { api, handle } = await handlerOf()
    const created = await ok<{ runId: string }>(
      handle(
        at("/trigger", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ jobName: "greet", input: { name: "ann" } })
        })
      )
    )
    await waitForStatus(api, created.runId, ["completed"])
    expect(await ok(handle(at("/runs")))).toEqual([expect.objectContaining({ id: created.runId })])
    await failsWith(handle(at(`${basePath}/runs`)), 404)
  })

  it("a rejected request outside the base path stores nothing", async () => {
    const { api, handle } = await handlerOf()
    await failsWith(
      handle(
        at("/trigger", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ jobName: "greet", input: { name: "ann" } })
        }),
        basePath
      ),
      404
    )
    expect(await ok(api.fetch("/runs"))).toEqual([])
    const { runId } = await trigger(api, { jobName: "greet", input: { name: "b" } })
    expect(runId.length).toBeGreaterThan(0)
  })
})
