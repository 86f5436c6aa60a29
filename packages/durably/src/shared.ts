// What both entries export; each adds its own `createDurably` (see index.ts, node.ts).
export type {
  Database,
  Disposition,
  Durably,
  DurablyEvent,
  DurablyOptions,
  EventOf,
  EventType,
  JobDefinitions,
  JobHandle,
  JobHandles,
  Listener,
  LogEntry,
  Progress,
  Run,
  RunFilter,
  RunStatus,
  StepRecord,
  TriggerAndWaitResult,
  TriggerOptions,
  TriggerResult,
  TypedRun,
  WaitForRunOptions
} from "./createDurably.js"
export { eventTypes } from "./createDurably.js"
export * from "./defineJob.js"
export * from "./errors.js"
export * from "./createDurablyHandler.js"
