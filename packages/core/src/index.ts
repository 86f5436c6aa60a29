/**
 * @since 0.1.0
 */
export * as DurablyError from "./DurablyError.js"
export * as DurablyEvent from "./DurablyEvent.js"
export * as Run from "./Run.js"
export * as SqlStore from "./SqlStore.js"
export * as Store from "./Store.js"
