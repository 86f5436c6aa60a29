// The chaos job's name and schemas, shared by the worker processes (which run
// it) and the coordinator (which only triggers runs and reads them back). Each
// step derives its value from the previous one, so a replayed or misplaced
// step result shows up as a wrong value at the end.
import { z } from "zod"

/** What every step returns: the value, and which execution computed it. */
export const StepOutput = z.object({
  value: z.number(),
  /** The worker process (its id in the fleet, not its pid, which the OS may reuse). */
  proc: z.string(),
  /** The execution (one call of the job function in one process). */
  exec: z.string(),
  /** Unique per step body execution. */
  nonce: z.string()
})
export type StepOutput = z.infer<typeof StepOutput>

export const chaosShape = {
  name: "chaos",
  input: z.object({
    seed: z.number(),
    steps: z.number().int().positive(),
    /** Each step body waits up to this long, so kills land inside bodies. */
    stepMs: z.number().nonnegative()
  }),
  output: z.object({
    value: z.number(),
    proc: z.string(),
    exec: z.string(),
    /** The nonce of every step result the completing execution used, in step order. */
    nonces: z.array(z.string())
  })
} as const

export type ChaosInput = z.infer<typeof chaosShape.input>
export type ChaosOutput = z.infer<typeof chaosShape.output>

export const stepName = (index: number): string => `step-${index}`

/** The value step `index` computes from the value before it. */
export const nextValue = (previous: number, index: number): number => (previous * 31 + index + 7) % 1_000_003

/** The value after `count` steps from `seed`. */
export const valueAfter = (seed: number, count: number): number => {
  let value = seed
  for (let index = 0; index < count; index++) value = nextValue(value, index)
  return value
}
