/**
 * @since 0.1.0
 */
export * as BrowserStorageError from "./BrowserStorageError.js"
export * as DurablyBrowser from "./DurablyBrowser.js"
