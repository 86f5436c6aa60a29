// The engine behind `Durably.layer`: the job registry, the worker and the run
// API, built together because they share the jobs and the set of runs
// executing in this process.
import { Effect, Schema } from "effect"
import type { ValidationError } from "../DurablyError.js"
import { EventBus } from "../EventBus.js"
import type * as Job from "../Job.js"
import { Store } from "../Store.js"
import type { Execution } from "./execution.js"
import type { Options } from "./options.js"
import { validateOptions } from "./options.js"
import { makeRegistry } from "./registry.js"
import { makeRunEvents } from "./runEvents.js"
import { makeRunsFeed } from "./runsFeed.js"
import { makeTriggers } from "./trigger.js"
import type { TriggerOptions, WaitOptions } from "./types.js"
import { makeWorker } from "./worker.js"

export const makeEngine = <J extends Job.Any>(options: Options<J>) =>
  Effect.gen(function* () {
    const config = yield* validateOptions(options)
    const store = yield* Store
    const bus = yield* EventBus
    const context = yield* Effect.context<Job.Requirements<J>>()
    const scope = yield* Effect.scope
    const registry = makeRegistry(options.jobs)
    const running = new Map<string, Execution>()
    const executingHere = (runId: string) => running.has(runId)

    const worker = yield* makeWorker({ config, store, bus, context, registry, running })
    const { wake } = worker
    const triggers = makeTriggers({ store, bus, registry, wake, unsafeWake: worker.unsafeWake, scope })
    const { pollingIntervalMs } = config
    const runEvents = makeRunEvents({ store, bus, pollingIntervalMs, executingHere })
    const subscribeRuns = makeRunsFeed({ store, bus, pollingIntervalMs, executingHere, failedStepOf: runEvents.failedStepOf })

    const triggerAndWait = (job: Job.Any, input: unknown, options?: TriggerOptions & WaitOptions) =>
      Effect.gen(function* () {
        const { disposition, run } = yield* triggers.trigger(job, input, options)
        const done = yield* runEvents.waitForRun(run.id, options)
        const output =
          job.output === undefined ? done.output : yield* Effect.orDie(Schema.decodeUnknown(job.output)(done.output))
        return { run: done, output, disposition }
      })

    const cancel = (runId: string) =>
      Effect.gen(function* () {
        const run = yield* store.cancel(runId, { deleteSteps: !config.preserveSteps })
        const execution = running.get(runId)
        if (execution !== undefined) yield* execution.stop("cancelled")
        yield* bus.emit("run:cancel", (timestamp) => ({ type: "run:cancel", runId, jobName: run.jobName, timestamp }))
        return run
      })

    const retry = (runId: string) =>
      Effect.gen(function* () {
        const run = yield* store.retry(runId)
        yield* bus.emit("run:retry", (timestamp) => ({ type: "run:retry", runId, jobName: run.jobName, timestamp }))
        yield* wake
        return run
      })

    const deleteRun = (runId: string) =>
      Effect.gen(function* () {
        const { jobName, labels } = yield* store.deleteRun(runId)
        yield* bus.emit("run:delete", (timestamp) => ({ type: "run:delete", runId, jobName, labels, timestamp }))
      })

    const durably = {
      jobs: registry.jobs,
      register: (added: ReadonlyArray<Job.Standalone>): Effect.Effect<void, ValidationError> => registry.register(added),
      trigger: triggers.trigger,
      triggerByName: triggers.triggerByName,
      triggerAndWait,
      batchTrigger: triggers.batchTrigger,
      getRun: store.getRun,
      getRuns: store.getRuns,
      getSteps: store.getSteps,
      getLogs: store.getLogs,
      cancel,
      retry,
      retrigger: triggers.retrigger,
      deleteRun,
      purgeRuns: (purge: { readonly olderThan: Date; readonly limit?: number | undefined }) =>
        store.purge({ olderThan: purge.olderThan.getTime(), limit: purge.limit }),
      waitForRun: runEvents.waitForRun,
      subscribe: runEvents.subscribe,
      subscribeRuns,
      processOne: worker.service.processOne,
      processUntilIdle: worker.service.processUntilIdle
    }

    if (config.autoStart) yield* worker.service.start
    /** Stops this process's execution of a run cancelled by someone else (another tab). */
    const stopCancelled = (runId: string) => {
      const execution = running.get(runId)
      return execution === undefined ? Effect.void : execution.stop("cancelled")
    }
    return { durably, worker: worker.service, unsafeTrigger: triggers.unsafeTrigger, stopCancelled }
  })
