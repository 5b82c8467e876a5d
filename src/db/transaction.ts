import type { Db, Tx } from "./client.js";

const effectsOf = new WeakMap<Tx, (() => void)[]>();

/**
 * Runs `work` in one transaction and, only once it has committed, the
 * effects registered with `afterCommit` (socket wake-ups, broadcasts). A
 * rollback runs none of them.
 */
export async function inTransaction<T>(db: Db, work: (tx: Tx) => Promise<T>): Promise<T> {
  const effects: (() => void)[] = [];
  const result = await db.transaction(async (tx) => {
    effectsOf.set(tx, effects);
    return work(tx);
  });
  for (const effect of effects) effect();
  return result;
}

/** Registers an effect for after commit; false when `tx` was not opened by `inTransaction`. */
export function afterCommit(tx: Tx, effect: () => void): boolean {
  const effects = effectsOf.get(tx);
  effects?.push(effect);
  return effects !== undefined;
}
