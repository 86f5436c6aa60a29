import { Duration, Effect, Exit, Fiber, Scope } from "effect"
const N = 30000
const variants: Record<string, Effect.Effect<void>> = {
  nothing: Effect.void,
  forkInSleepClose: Effect.flatMap(Scope.make(), (s) => Effect.zipRight(Effect.forkIn(Effect.sleep(Duration.millis(5000)), s), Scope.close(s, Exit.void))),
  forkInNeverClose: Effect.flatMap(Scope.make(), (s) => Effect.zipRight(Effect.forkIn(Effect.never, s), Scope.close(s, Exit.void))),
  forkInVoidClose: Effect.flatMap(Scope.make(), (s) => Effect.zipRight(Effect.forkIn(Effect.void, s), Scope.close(s, Exit.void))),
  forkSleepInterrupt: Effect.flatMap(Effect.fork(Effect.sleep(Duration.millis(5000))), Fiber.interrupt),
  forkNeverInterrupt: Effect.flatMap(Effect.fork(Effect.never), Fiber.interrupt),
  forkDaemonNeverInterrupt: Effect.flatMap(Effect.forkDaemon(Effect.never), Fiber.interrupt),
  forkVoidJoin: Effect.flatMap(Effect.fork(Effect.void), Fiber.join),
  asyncTimer: Effect.async<void>((resume) => { const t = setTimeout(() => resume(Effect.void), 5000); clearTimeout(t); resume(Effect.void) }),
}
for (let rep = 0; rep < 3; rep++) for (const [name, eff] of Object.entries(variants)) {
  const t0 = performance.now()
  await Effect.runPromise(Effect.repeatN(eff, N - 1))
  if (rep === 2) console.log(name.padEnd(26), ((performance.now() - t0) * 1000 / N).toFixed(2), "us")
}
