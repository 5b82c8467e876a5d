import type { PgTransactionConfig } from "drizzle-orm/pg-core";
import type { Db, Tx } from "./client.js";

const effectsOf = new WeakMap<Tx, (() => void)[]>();

/** How a transaction runs; an export's long snapshot asks for `repeatable read`, `read only`. */
export type TransactionOptions = PgTransactionConfig;

/**
 * The one way a transaction is opened (a test refuses `.transaction(`
 * outside src/db; `runWrite` uses this too). Runs `work` in one
 * transaction and, only once it has committed, the effects registered with
 * `afterCommit` (socket wake-ups, broadcasts). A rollback runs none of them.
 */
export async function inTransaction<T>(db: Db, work: (tx: Tx) => Promise<T>, options?: TransactionOptions): Promise<T> {
  const effects: (() => void)[] = [];
  const result = await db.transaction(async (tx) => {
    effectsOf.set(tx, effects);
    return work(tx);
  }, options);
  for (const effect of effects) effect();
  return result;
}

/**
 * Registers an effect for after `tx` commits. Every transaction is opened
 * by `inTransaction`, so one that was not is a mistake, refused loudly
 * rather than left to run its effect inside the transaction.
 */
export function afterCommit(tx: Tx, effect: () => void): void {
  const effects = effectsOf.get(tx);
  if (!effects) throw new Error("afterCommit: this transaction was not opened by inTransaction");
  effects.push(effect);
}
