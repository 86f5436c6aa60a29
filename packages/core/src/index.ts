/**
 * @since 0.1.0
 */
export * as DurablyError from "./DurablyError.js"
export * as DurablyEvent from "./DurablyEvent.js"
export * as Run from "./Run.js"
export * as SqlStore from "./SqlStore.js"
export * as Store from "./Store.js"
export * as Durably from "./Durably.js"
export * as EventBus from "./EventBus.js"
export * as Job from "./Job.js"
export * as Step from "./Step.js"
export * as Worker from "./Worker.js"
