// The printed report of a chaos run: one column per database, the five
// figures that must be 0 first, then what the run did; below the table, the
// details of every violation (with run ids and journal lines).
import type { Figure } from "./analyze.js"
import { figureLabels } from "./analyze.js"
import type { PhaseResult } from "./scenario.js"

const detailLimit = 20

const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const all = [header, ...rows]
  const widths = header.map((_, column) => Math.max(...all.map((row) => (row[column] ?? "").length)))
  const format = (row: ReadonlyArray<string>) =>
    row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join("   ")
  return [format(header), widths.map((width) => "-".repeat(width)).join("   "), ...rows.map(format)].join("\n")
}

const figures = Object.keys(figureLabels) as ReadonlyArray<Figure>

export const formatReport = (results: ReadonlyArray<PhaseResult>): string => {
  const first = results[0]?.options
  if (first === undefined) return "no phase ran"
  const column = (pick: (result: PhaseResult) => string) => results.map(pick)
  const seconds = (result: PhaseResult) => result.durationMs / 1000
  const rows: Array<Array<string>> = [
    ...figures.map((figure) => [figureLabels[figure], ...column((r) => String(r.analysis.figures[figure]))]),
    ["other integrity errors", ...column((r) => String(r.analysis.integrity.length))],
    ["worker crashes (not killed by us)", ...column((r) => String(r.crashes.length))],
    ["", ...column(() => "")],
    ["runs completed", ...column((r) => `${r.completed}/${r.options.runs}${r.timedOut ? " (deadline)" : ""}`)],
    ["duration (s)", ...column((r) => seconds(r).toFixed(1))],
    ["throughput (runs/s)", ...column((r) => (r.completed / seconds(r)).toFixed(1))],
    ["throughput (steps/s)", ...column((r) => ((r.completed * r.options.steps) / seconds(r)).toFixed(0))],
    ["kills (SIGKILL)", ...column((r) => String(r.kills))],
    ["  skipped (fewer than 2 workers up)", ...column((r) => String(r.skippedKills))],
    ["  with a run in flight", ...column((r) => String(r.analysis.killsMidRun))],
    ["  inside a step body", ...column((r) => String(r.analysis.killsInBody))],
    ["pauses (SIGSTOP past the lease)", ...column((r) => ((r.options.pauseEveryMs ?? 0) > 0 ? `${r.pauses} (every ~${r.options.pauseEveryMs} ms)` : "off"))],
    ["executions stopped alive (signal aborted)", ...column((r) => String(r.analysis.aborted))],
    ["step bodies re-run after a kill/pause (allowed)", ...column((r) => String(r.analysis.inFlightReruns))],
    ["bodies started on waking, past the lease (allowed)", ...column((r) => String(r.analysis.wokenStaleBodies))],
    ["executions (job function calls)", ...column((r) => String(r.analysis.executions))],
    ["step bodies run", ...column((r) => String(r.analysis.stepBodies))],
    ["worker processes started", ...column((r) => String(r.workersStarted))],
    ["  mean start-up until polling (ms)", ...column((r) => r.meanStartupMs.toFixed(0))],
    ["worker:error events", ...column((r) => String(r.analysis.workerErrors.length))]
  ]
  const header = ["", ...column((r) => `${r.options.dialect} (${r.options.workers} workers)`)]
  const lines = [
    `chaos: ${first.runs} runs x ${first.steps} steps, a SIGKILL every ~${first.killEveryMs} ms, lease ${first.leaseMs} ms (renewed every ${first.leaseRenewIntervalMs} ms), polling ${first.pollingIntervalMs} ms, ${first.maxConcurrentRuns} runs at once per worker, step bodies up to ${first.stepMs} ms`,
    "",
    table(header, rows)
  ]
  for (const result of results) {
    const label = result.options.dialect
    const section = (title: string, items: ReadonlyArray<string>) => {
      if (items.length === 0) return
      lines.push("", `[${label}] ${title} (${items.length}${items.length > detailLimit ? `, first ${detailLimit}` : ""}):`)
      for (const item of items.slice(0, detailLimit)) lines.push(`  ${item}`)
    }
    for (const figure of figures) section(figureLabels[figure], result.analysis.violations[figure])
    section("other integrity errors", result.analysis.integrity)
    section("worker crashes", result.crashes.map((crash) => `${crash.proc} (pid ${crash.pid}) ${crash.why}\n${crash.stderr}`))
    section("worker:error events (reported, not counted as violations)", result.analysis.workerErrors.slice(0, 5))
    if (!result.ok || result.options.keep === true) {
      lines.push(`[${label}] journals${label === "sqlite" ? " and database" : ""} kept in ${result.dir}`)
    }
  }
  const failed = results.filter((result) => !result.ok).map((result) => result.options.dialect)
  lines.push("", failed.length === 0 ? "PASS: every figure is 0 on every database" : `FAIL on ${failed.join(", ")}`)
  return lines.join("\n")
}
