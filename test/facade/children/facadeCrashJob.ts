// The name and schemas of the crash test's job, shared by the worker processes
// (which run it) and the test process (which only triggers and reads runs).
import { z } from "zod"

export const facadeCrashShape = {
  name: "facade-crash",
  input: z.object({ start: z.number() }),
  output: z.object({
    value: z.number(),
    pids: z.object({ first: z.number(), second: z.number(), third: z.number() })
  })
} as const
