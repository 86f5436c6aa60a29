// Items given in the same turn of the event loop leave in one message: the
// page's calls to its database worker, and the worker's answers. Calls that
// leave together start together in the worker, so the writes of runs
// executing at the same time commit together.

/** A function taking one item at a time; `send` gets the items of each turn, in order, once that turn's code has run. */
export const perTurn = <A>(send: (items: ReadonlyArray<A>) => void): ((item: A) => void) => {
  let waiting: Array<A> = []
  const flush = () => {
    const items = waiting
    waiting = []
    send(items)
  }
  return (item) => {
    waiting.push(item)
    if (waiting.length === 1) queueMicrotask(flush)
  }
}
