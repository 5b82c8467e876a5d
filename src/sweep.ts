import type { Logger } from "pino";
import type { Clock } from "./clock.js";
import type { Db, Tx } from "./db/client.js";
import { inTransaction } from "./db/transaction.js";

/**
 * Time-based work (expiries, housekeeping, later lapses and
 * auto-confirmations). Every task is idempotent and safe to run on several
 * instances at once; each answers how many rows it changed.
 */
export type SweepTask = { name: string; run(now: Date): Promise<number> };

export type Sweeper = {
  register(task: SweepTask): void;
  /** One pass over every task at the clock's current time (tests call this instead of waiting). */
  runOnce(): Promise<Record<string, number>>;
  start(intervalMs: number): void;
  stop(): Promise<void>;
};

export function createSweeper(clock: Clock, logger: Logger): Sweeper {
  const tasks: SweepTask[] = [];
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;

  async function runOnce(): Promise<Record<string, number>> {
    const now = clock.now();
    const changed: Record<string, number> = {};
    for (const task of tasks) {
      try {
        changed[task.name] = await task.run(now);
      } catch (error) {
        // One failing task must not stop the others; the next pass retries it.
        logger.error({ err: error, task: task.name }, "sweep task failed");
      }
    }
    return changed;
  }

  return {
    register: (task) => tasks.push(task),
    runOnce,
    start(intervalMs) {
      timer = setInterval(() => {
        if (running) return; // a slow pass is not overlapped by the next
        running = runOnce().finally(() => {
          running = undefined;
        });
      }, intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}

/**
 * The shape of every sweep task: candidates are read without locks, then
 * each is handled in its own short transaction that locks the pair row
 * first (the one lock order), skips ended pairs, and re-checks its row with
 * `FOR UPDATE SKIP LOCKED`, so several instances sweeping at once neither
 * wait on each other nor act twice. Answers how many rows changed.
 */
export async function sweepPerPair<C extends { pairId: string }>(
  db: Db,
  lockActivePair: (tx: Tx, pairId: string) => Promise<boolean>,
  candidates: C[],
  work: (tx: Tx, candidate: C) => Promise<boolean>,
): Promise<number> {
  let changed = 0;
  for (const candidate of candidates) {
    const done = await inTransaction(db, async (tx) =>
      (await lockActivePair(tx, candidate.pairId)) ? work(tx, candidate) : false,
    );
    if (done) changed++;
  }
  return changed;
}
