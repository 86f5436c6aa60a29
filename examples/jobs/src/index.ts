// The job the examples share: the Node demo (`pnpm demo`) and the browser page
// (`pnpm example:browser`) run this same definition.
import { defineJob } from "durably"
import { z } from "zod"

export const reportSteps = ["fetch-orders", "validate", "enrich-customers", "compute-totals", "render-report", "publish"] as const

/** Pretend work that stops at once when the run is stopped. */
const work = (ms: number, signal: AbortSignal) =>
  new Promise<void>((done, fail) => {
    const timer = setTimeout(done, ms)
    signal.addEventListener("abort", () => {
      clearTimeout(timer)
      fail(signal.reason)
    })
  })

/** A six-step report job whose steps each take `stepMs`. */
export const monthlyReportJob = (stepMs: number) =>
  defineJob({
    name: "monthly-report",
    input: z.object({ month: z.string() }),
    output: z.object({ orders: z.number(), total: z.number(), url: z.string() }),
    run: async (step, input) => {
      const total = reportSteps.length
      const orders = await step.run("fetch-orders", async (signal) => {
        await work(stepMs, signal)
        return Array.from({ length: 120 }, (_, i) => ({ id: i + 1, cents: 1000 + ((i * 37) % 900) }))
      })
      step.progress(1, total, "fetched orders")
      const valid = await step.run("validate", async (signal) => {
        await work(stepMs, signal)
        return orders.filter((order) => order.cents > 0).length
      })
      step.progress(2, total, "validated")
      await step.run("enrich-customers", (signal) => work(stepMs, signal))
      step.progress(3, total, "enriched")
      const sum = await step.run("compute-totals", async (signal) => {
        await work(stepMs, signal)
        return orders.reduce((acc, order) => acc + order.cents, 0) / 100
      })
      step.progress(4, total, "totals computed")
      await step.run("render-report", (signal) => work(stepMs, signal))
      step.progress(5, total, "rendered")
      const url = await step.run("publish", async (signal) => {
        await work(stepMs, signal)
        return `https://reports.example/${input.month}.pdf`
      })
      step.progress(6, total, "published")
      return { orders: valid, total: sum, url }
    }
  })
