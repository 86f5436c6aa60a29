// The HTTP API on a real Node HTTP server (`NodeHttp.server({ port: 0 })` on
// loopback over `DurablyNode.sqlite`), called with the real `fetch`.
import { DurablyNode, NodeHttp } from "@durably/node"
import { HttpServer } from "@effect/platform"
import { Context, Layer } from "effect"
import { describe, expect, it } from "vitest"
import type { ApiOptions } from "./routesSuite.js"
import { buildLayer, effectJobs, engineOptions, failsWith, Gates, makeApi, ok, routesSuite, tempDatabase } from "./routesSuite.js"

const openNodeApi = async (options: ApiOptions) => {
  const database = tempDatabase()
  const gates = new Gates()
  try {
    const built = await buildLayer(
      NodeHttp.server({ port: 0, ...options }).pipe(
        Layer.provideMerge(DurablyNode.sqlite({ filename: database.filename, jobs: effectJobs(gates), ...engineOptions }))
      )
    )
    const address = Context.get(built.context, HttpServer.HttpServer).address
    if (address._tag !== "TcpAddress") throw new Error(`expected a TCP address, got ${address._tag}`)
    const origin = `http://127.0.0.1:${address.port}`
    return makeApi({
      fetch: (path, init) => fetch(`${origin}${path}`, init),
      filename: database.filename,
      gates,
      dispose: async () => {
        try {
          await built.close()
        } finally {
          database.remove()
        }
      }
    })
  } catch (error) {
    database.remove()
    throw error
  }
}

routesSuite("HTTP API: NodeHttp.server", openNodeApi)

describe("NodeHttp.server", () => {
  it("listens on loopback at the port it picked, and stops listening when its scope closes", async () => {
    const database = tempDatabase()
    const built = await buildLayer(
      NodeHttp.server({ port: 0 }).pipe(
        Layer.provideMerge(DurablyNode.sqlite({ filename: database.filename, jobs: effectJobs(new Gates()), ...engineOptions }))
      )
    )
    let origin = ""
    try {
      const address = Context.get(built.context, HttpServer.HttpServer).address
      expect(address).toMatchObject({ _tag: "TcpAddress", hostname: "127.0.0.1", port: expect.any(Number) })
      if (address._tag !== "TcpAddress") return
      expect(address.port).toBeGreaterThan(0)
      origin = `http://127.0.0.1:${address.port}`
      expect(await ok(fetch(`${origin}/runs`))).toEqual([])
      await failsWith(fetch(`${origin}/nope`), 404)
    } finally {
      await built.close()
      database.remove()
    }
    await expect(fetch(`${origin}/runs`)).rejects.toThrow()
  })
})
