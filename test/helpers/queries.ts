import type pg from "pg";

/**
 * Counts the statements sent straight through the pool (not inside a
 * transaction) whose text matches `pattern`, until `stop()`: how a test
 * shows that an answer came without a query.
 */
export function countQueries(pool: pg.Pool, pattern: RegExp): { readonly count: number; stop(): void } {
  const original = pool.query;
  let count = 0;
  pool.query = function (this: pg.Pool, ...args: unknown[]) {
    const first = args[0];
    const text = typeof first === "string" ? first : ((first as { text?: string } | undefined)?.text ?? "");
    if (pattern.test(text)) count++;
    return (original as (...forwarded: unknown[]) => unknown).apply(this, args);
  } as typeof pool.query;
  return {
    get count() {
      return count;
    },
    stop() {
      pool.query = original;
    },
  };
}
