/**
 * @since 0.1.0
 */
export * as NodeStore from "./NodeStore.js"
export * as DurablyNode from "./DurablyNode.js"
