import { EventBus } from "@durably/core"
import type { DurablyEvent } from "@durably/core/DurablyEvent"
import { unsafeEmitOf } from "@durably/core/Internal"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Queue } from "effect"

const at = new Date(0)
const cancel = (runId: string): DurablyEvent => ({ type: "run:cancel", runId, jobName: "j", timestamp: at })
const retry = (runId: string): DurablyEvent => ({ type: "run:retry", runId, jobName: "j", timestamp: at })

describe("EventBus", () => {
  it.scoped("emit builds an event only when some subscription takes its type, and builds it once", () =>
    Effect.gen(function* () {
      const bus = yield* EventBus.EventBus
      let built = 0
      const build = () => {
        built++
        return { type: "run:cancel" as const, runId: "r1", jobName: "j", timestamp: at }
      }

      yield* bus.emit("run:cancel", build)
      expect(built).toBe(0)

      const retries = yield* bus.subscribeWhere(() => true, (type) => type === "run:retry")
      yield* bus.emit("run:cancel", build)
      expect(built).toBe(0)

      const cancels = yield* bus.subscribeWhere(() => true, (type) => type === "run:cancel")
      const all = yield* bus.subscribe
      yield* bus.emit("run:cancel", build)
      expect(built).toBe(1)
      expect([...(yield* Queue.takeAll(cancels))].map((e) => e.runId)).toEqual(["r1"])
      expect([...(yield* Queue.takeAll(all))].map((e) => e.type)).toEqual(["run:cancel"])
      expect(yield* Queue.size(retries)).toBe(0)
    }).pipe(Effect.provide(EventBus.layer)))

  it.scoped("unsafeEmitOf(bus) delivers at once, stamped with the time given, and builds nothing nobody takes", () =>
    Effect.gen(function* () {
      const bus = yield* EventBus.EventBus
      const unsafeEmit = unsafeEmitOf(bus)
      if (unsafeEmit === undefined) return expect.fail("EventBus.make registers its fast emit")
      let built = 0
      const build = (timestamp: Date) => {
        built++
        return { type: "run:cancel" as const, runId: "r1", jobName: "j", timestamp }
      }
      unsafeEmit("run:cancel", build, 5)
      expect(built).toBe(0)
      const cancels = yield* bus.subscribeWhere(() => true, (type) => type === "run:cancel")
      unsafeEmit("run:cancel", build, 5)
      expect(built).toBe(1)
      expect([...(yield* Queue.takeAll(cancels))]).toEqual([{ type: "run:cancel", runId: "r1", jobName: "j", timestamp: new Date(5) }])
    }).pipe(Effect.provide(EventBus.layer)))

  it.scoped("the type filter is asked before the event filter; a filter that throws takes the event", () =>
    Effect.gen(function* () {
      const bus = yield* EventBus.EventBus
      const forR2 = yield* bus.subscribeWhere((event) => event.runId === "r2", (type) => type === "run:retry")
      const throwing = yield* bus.subscribeWhere(
        () => true,
        () => {
          throw new Error("broken filter")
        }
      )
      yield* bus.publish(cancel("r2"))
      yield* bus.publish(retry("r1"))
      yield* bus.publish(retry("r2"))
      expect([...(yield* Queue.takeAll(forR2))].map((e) => `${e.type} ${e.runId}`)).toEqual(["run:retry r2"])
      expect(yield* Queue.size(throwing)).toBe(3)
    }).pipe(Effect.provide(EventBus.layer)))

  it.scoped("each filter is asked once per event, by publish and by emit", () =>
    Effect.gen(function* () {
      const bus = yield* EventBus.EventBus
      const asked = { types: 0, events: 0 }
      const events = yield* bus.subscribeWhere(
        () => {
          asked.events++
          return true
        },
        () => {
          asked.types++
          return true
        }
      )
      yield* bus.publish(cancel("r1"))
      yield* bus.emit("run:retry", (timestamp) => ({ type: "run:retry", runId: "r2", jobName: "j", timestamp }))
      expect(asked).toEqual({ types: 2, events: 2 })
      expect([...(yield* Queue.takeAll(events))].map((e) => e.type)).toEqual(["run:cancel", "run:retry"])
    }).pipe(Effect.provide(EventBus.layer)))
})
