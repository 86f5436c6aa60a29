// The browser example: the same job as the Node demo, on SQLite in OPFS.
// Every tab shows the runs and their progress; one tab executes them.
import { DurablyBrowser } from "@durably/browser"
import { monthlyReportJob } from "@durably/example-jobs"
import { createDurably } from "durably"
import type { Run } from "durably"

const database = DurablyBrowser.database({ name: "example" })
const durably = createDurably({
  database,
  jobs: { monthlyReport: monthlyReportJob(1000) },
  pollingIntervalMs: 500
})

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const rows = byId<HTMLTableSectionElement>("runs")
const errorBox = byId<HTMLParagraphElement>("error")

const showError = (error: unknown) => {
  errorBox.hidden = false
  errorBox.textContent = error instanceof Error ? error.message : String(error)
}

const button = (label: string, action: () => Promise<unknown>) => {
  const element = document.createElement("button")
  element.textContent = label
  element.addEventListener("click", () => void action().then(render, showError))
  return element
}

const row = (run: Run) => {
  const tr = document.createElement("tr")
  tr.dataset["runId"] = run.id
  const id = document.createElement("td")
  id.innerHTML = `<code>${run.id.slice(0, 8)}</code> ${(run.input as { month: string }).month}`
  const status = document.createElement("td")
  status.textContent = run.status
  status.className = "status"
  const progress = document.createElement("td")
  const bar = document.createElement("progress")
  bar.max = run.progress?.total ?? 6
  bar.value = run.status === "completed" ? bar.max : (run.progress?.current ?? 0)
  progress.append(bar)
  const actions = document.createElement("td")
  if (run.status === "pending" || run.status === "leased") actions.append(button("Cancel", () => durably.cancel(run.id)))
  if (run.status === "failed" || run.status === "cancelled") actions.append(button("Retry", () => durably.retry(run.id)))
  tr.append(id, status, progress, actions)
  return tr
}

let rendering = Promise.resolve()
const render = () => {
  rendering = rendering.then(async () => {
    const runs = await durably.getRuns({ limit: 20 })
    rows.replaceChildren(...runs.map(row))
  }, showError)
  return rendering
}

database.onRoleChange((role) => {
  byId("role").textContent = role === "owner" ? "this tab executes runs" : "another tab executes runs"
})

byId<HTMLFormElement>("trigger").addEventListener("submit", (event) => {
  event.preventDefault()
  const month = String(new FormData(event.target as HTMLFormElement).get("month"))
  durably.jobs.monthlyReport.trigger({ month }).then(render, showError)
})

for (const type of ["run:trigger", "run:leased", "run:complete", "run:fail", "run:cancel", "run:retry", "run:delete"] as const) {
  durably.on(type, () => void render())
}
durably.on("run:progress", (event) => {
  const bar = rows.querySelector<HTMLProgressElement>(`tr[data-run-id="${event.runId}"] progress`)
  if (bar !== null) {
    bar.max = event.progress.total ?? bar.max
    bar.value = event.progress.current
  }
})

durably.init().then(render, showError)
