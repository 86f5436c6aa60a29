// The `Step` service of one execution: durable steps (replayed from the
// results stored by earlier executions), progress and logs, each a fenced
// write of the lease holder.
import { Cause, Clock, Effect, Schema } from "effect"
import type { EventOf } from "../DurablyEvent.js"
import { CorruptRowError, DuplicateStepError } from "../DurablyError.js"
import type { Run } from "../Run.js"
import { Step } from "../Step.js"
import { describeFailure } from "./describe.js"
import type { Base, Control, Deps, LeaseHolder } from "./leaseHolder.js"
import type { UnsavedSteps } from "./unsavedSteps.js"

interface StepBase extends Base {
  readonly stepName: string
  readonly stepIndex: number
}

/** What the execution reads back once the job is over. */
export interface StepState {
  /** The step the job failed in, if a step failed. */
  failedStepName: string | null
}

/**
 * The `Step` service for `run`. `stored` holds the outputs of the steps an
 * earlier execution completed, by name.
 */
export const makeStepService = (
  run: Run,
  deps: Deps,
  control: Control,
  holder: LeaseHolder,
  unsaved: UnsavedSteps,
  stored: ReadonlyMap<string, unknown>,
  state: StepState
): Step["Type"] => {
  const { bus, store } = deps
  const { base, heartbeat, lease, write } = holder
  let currentStep: string | null = null
  let nextIndex = 0
  const usedNames = new Set<string>()

  const runStep = <A, E, R2, I>(
    name: string,
    effect: Effect.Effect<A, E, R2>,
    options?: { readonly schema?: Schema.Schema<A, I> | undefined }
  ): Effect.Effect<A, E | DuplicateStepError, R2> =>
    Effect.suspend((): Effect.Effect<A, E | DuplicateStepError, R2> => {
      if (usedNames.has(name)) return Effect.fail(new DuplicateStepError({ runId: run.id, stepName: name }))
      usedNames.add(name)
      const stepIndex = nextIndex++
      const schema = options?.schema
      if (stored.has(name)) {
        const output = stored.get(name)
        return schema === undefined
          ? Effect.succeed(output as A)
          : Effect.orDieWith(
              Schema.decodeUnknown(schema)(output),
              (error) => new CorruptRowError({ table: "durably_steps", runId: run.id, detail: `${name}: ${error.message}` })
            )
      }
      // Events are built only if someone listens for their type.
      const stepEvent = <T extends "step:start" | "step:complete" | "step:fail" | "step:cancel">(
        type: T,
        fields: Omit<EventOf<T>, keyof StepBase | "type" | "timestamp">
      ) => bus.emit(type, (timestamp) => ({ type, ...base, stepName: name, stepIndex, timestamp, ...fields }) as EventOf<T>)
      // The step starts once the steps before it are stored.
      return unsaved.afterSaved(
        Effect.flatMap(Clock.currentTimeMillis, (startedAt) => {
          currentStep = name
          // One uninterruptible frame around the step's body: an interrupted body
          // (cancel, lost lease, shutdown) reports `step:cancel` from it, since the
          // interrupted fiber runs nothing after the step; the rest is interruptible again.
          return Effect.zipRight(
            stepEvent("step:start", {}),
            Effect.uninterruptibleMask((restore) =>
              Effect.matchCauseEffect(restore(effect), {
                onSuccess: (value) => {
                  currentStep = null
                  const completed = (output: unknown) => {
                    unsaved.push({
                      write: { name, index: stepIndex, status: "completed", output, startedAt },
                      stored: stepEvent("step:complete", { output })
                    })
                    return value
                  }
                  return schema === undefined
                    ? Effect.sync(() => completed(value))
                    : Effect.map(Effect.orDie(Schema.encode(schema)(value)), completed)
                },
                onFailure: (cause) => {
                  currentStep = null
                  if (Cause.isInterruptedOnly(cause)) {
                    control.stepInterrupted = true
                    return Effect.zipRight(stepEvent("step:cancel", {}), Effect.failCause(cause))
                  }
                  state.failedStepName = name
                  const error = describeFailure(Cause.squash(cause))
                  return restore(
                    Effect.gen(function* () {
                      yield* unsaved.afterSaved(
                        write(store.persistStep(lease, { name, index: stepIndex, status: "failed", error, startedAt }))
                      )
                      yield* heartbeat
                      yield* stepEvent("step:fail", { error })
                      return yield* Effect.failCause(cause)
                    })
                  )
                }
              })
            )
          )
        })
      )
    })

  return Step.of({
    runId: run.id,
    jobName: run.jobName,
    run: runStep,
    progress: (current, total, message) =>
      Effect.gen(function* () {
        const progress = {
          current,
          ...(total === undefined ? {} : { total }),
          ...(message === undefined ? {} : { message })
        }
        yield* unsaved.afterSaved(write(store.progress(lease, progress)))
        yield* bus.emit("run:progress", (timestamp) => ({ type: "run:progress", ...base, timestamp, progress }))
      }),
    log: (level, message, data) =>
      Effect.gen(function* () {
        const stepName = currentStep
        yield* unsaved.afterSaved(write(store.log(lease, { stepName, level, message, data })))
        yield* bus.emit("log:write", (timestamp) => ({
          type: "log:write",
          ...base,
          timestamp,
          level,
          message,
          data,
          stepName
        }))
      })
  })
}
