// The jobs an engine knows, by name. The worker claims only runs of these jobs,
// so their names are kept as the list the claim passes to the store.
import { Effect } from "effect"
import { NotFoundError, ValidationError } from "../DurablyError.js"
import type * as Job from "../Job.js"
import { checkJobNames } from "./options.js"

export interface Registry {
  readonly jobs: ReadonlyMap<string, Job.Any>
  /** The names of the jobs, as one list (a new list after each `register` that adds one). */
  readonly names: () => ReadonlyArray<string>
  /** The job of that name, or a `NotFoundError`. */
  readonly named: (jobName: string) => Effect.Effect<Job.Any, NotFoundError>
  /** Adds jobs; the same job again is a no-op, another job under a taken name is refused. */
  readonly register: (added: ReadonlyArray<Job.Any>) => Effect.Effect<void, ValidationError>
}

export const noSuchJob = (jobName: string) => new NotFoundError({ entity: "job", id: jobName })

export const makeRegistry = (initial: ReadonlyArray<Job.Any>): Registry => {
  const jobs = new Map<string, Job.Any>(initial.map((job) => [job.name, job]))
  let names: ReadonlyArray<string> = [...jobs.keys()]
  return {
    jobs,
    names: () => names,
    named: (jobName) => {
      const job = jobs.get(jobName)
      return job === undefined ? Effect.fail(noSuchJob(jobName)) : Effect.succeed(job)
    },
    register: (added) =>
      Effect.suspend(() => {
        const issues = checkJobNames(added, jobs)
        if (issues.length > 0) return Effect.fail(new ValidationError({ subject: "jobs", issues }))
        const before = jobs.size
        for (const job of added) jobs.set(job.name, job)
        if (jobs.size !== before) names = [...jobs.keys()]
        return Effect.void
      })
  }
}
