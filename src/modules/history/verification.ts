import { and, asc, eq, gt, lte } from "drizzle-orm";
import { BoundedMap } from "../../bounded-map.js";
import type { Clock } from "../../clock.js";
import type { Db } from "../../db/client.js";
import { events } from "../../db/schema/history.js";
import { chainHash, GENESIS_HASH } from "./chain.js";
import type { Verification } from "./history.schemas.js";

/** A point on a pair's chain: an event's seq and hash (seq 0: before the first event). */
export type ChainPoint = { seq: number; hash: string };

/** How many verification runs read the chain, and how many events they checked (tests, operators). */
export type VerificationStats = { runs: number; eventsChecked: number };

const VERIFY_BATCH = 1000;
/**
 * A whole-chain verification is reused this long: while the head moves,
 * only the events after it are checked. After it the chain is checked from
 * the start again, so an edit made behind the database's append-only
 * trigger is found within this time even if nothing is appended.
 */
export const VERIFICATION_REUSE_MS = 60_000;
/** A longer suffix is answered from the whole chain's (reused) verification instead. */
export const LONG_SUFFIX_EVENTS = 1000;
const GENESIS: ChainPoint = { seq: 0, hash: GENESIS_HASH };

type Known = { head: ChainPoint; result: Verification; verifiedFromStartAt: number };

export type ChainVerifierDeps = { db: Db; clock: Clock; head: (pairId: string) => Promise<ChainPoint> };

/**
 * Verifies pairs' hash chains without letting callers make it costly: one
 * run per pair at a time (callers asking the same question share it), the
 * whole chain's result reused until the head moves (then only the new
 * events are checked), and a suffix after a checkpoint the client holds.
 */
export function createChainVerifier({ db, clock, head: readHead }: ChainVerifierDeps) {
  const stats: VerificationStats = { runs: 0, eventsChecked: 0 };
  const known = new BoundedMap<string, Known>(10_000);
  // Per pair, the last suffix answered: a client asking again with the same checkpoint and head.
  const lastSuffix = new BoundedMap<string, { question: string; result: Verification; at: number }>(10_000);
  const running = new Map<string, { question: string; run: Promise<Verification> }>();

  const samePoint = (a: ChainPoint, b: ChainPoint) => a.seq === b.seq && a.hash === b.hash;
  const brokenAt = (seq: number): Verification => ({
    valid: false,
    lastSeq: seq - 1,
    headHash: null,
    brokenAtSeq: seq,
  });

  const isRecent = (at: number) => {
    const age = clock.now().getTime() - at;
    return age >= 0 && age < VERIFICATION_REUSE_MS;
  };

  /** The whole chain's last result, if it is recent enough to build on. */
  function recent(pairId: string): Known | undefined {
    const entry = known.get(pairId);
    return entry && isRecent(entry.verifiedFromStartAt) ? entry : undefined;
  }

  /**
   * Checks every link after `from` up to `head`: seqs without a gap, each
   * `prevHash` the hash before it, each hash recomputed, and the last event
   * the head itself (a missing tail is a break too). Events appended after
   * `head` was read are not looked at.
   */
  async function checkLinks(pairId: string, from: ChainPoint, head: ChainPoint): Promise<Verification> {
    stats.runs++;
    let expectedSeq = from.seq + 1;
    let prevHash = from.hash;
    let lastHash: string | null = from.seq === 0 ? null : from.hash;
    while (expectedSeq <= head.seq) {
      const rows = await db
        .select()
        .from(events)
        .where(and(eq(events.pairId, pairId), gt(events.seq, expectedSeq - 1), lte(events.seq, head.seq)))
        .orderBy(asc(events.seq))
        .limit(VERIFY_BATCH);
      stats.eventsChecked += rows.length;
      for (const row of rows) {
        const intact = row.seq === expectedSeq && row.prevHash === prevHash && chainHash(prevHash, row) === row.hash;
        if (!intact) return { valid: false, lastSeq: expectedSeq - 1, headHash: lastHash, brokenAtSeq: expectedSeq };
        prevHash = row.hash;
        lastHash = row.hash;
        expectedSeq++;
      }
      if (rows.length < VERIFY_BATCH) break;
    }
    const lastSeq = expectedSeq - 1;
    if (lastSeq !== head.seq || (lastHash ?? GENESIS_HASH) !== head.hash) {
      return { valid: false, lastSeq, headHash: lastHash, brokenAtSeq: lastSeq + 1 };
    }
    return { valid: true, lastSeq, headHash: lastHash, brokenAtSeq: null };
  }

  /** Starts `work` as the pair's one run, named by the question it answers. */
  function start(pairId: string, question: string, work: () => Promise<Verification>): Promise<Verification> {
    const run = work().finally(() => {
      if (running.get(pairId)?.run === run) running.delete(pairId);
    });
    running.set(pairId, { question, run });
    return run;
  }

  /** Waits for a run to end, however it ends. */
  const settled = (run: Promise<Verification>) =>
    run.then(
      () => undefined,
      () => undefined,
    );

  async function verifyWhole(pairId: string): Promise<Verification> {
    while (true) {
      const head = await readHead(pairId);
      const last = recent(pairId);
      if (last && samePoint(last.head, head)) return last.result;
      // From here to start() nothing awaits: two callers cannot both find no run and start two.
      const question = `whole:${head.seq}:${head.hash}`;
      const current = running.get(pairId);
      if (current?.question === question) return current.run;
      if (current) {
        await settled(current.run);
        continue;
      }
      // A valid result is extended by the new events only; anything else is checked from the start.
      const extend = last?.result.valid && head.seq > last.head.seq ? last : undefined;
      const verifiedFromStartAt = extend ? extend.verifiedFromStartAt : clock.now().getTime();
      return start(pairId, question, async () => {
        const result = await checkLinks(pairId, extend ? extend.head : GENESIS, head);
        known.set(pairId, { head, result, verifiedFromStartAt });
        return result;
      });
    }
  }

  async function storedHash(pairId: string, seq: number): Promise<string | undefined> {
    const [row] = await db
      .select({ hash: events.hash })
      .from(events)
      .where(and(eq(events.pairId, pairId), eq(events.seq, seq)));
    return row?.hash;
  }

  async function verifySuffix(pairId: string, from: ChainPoint): Promise<Verification> {
    const head = await readHead(pairId);
    if (from.seq > head.seq) return brokenAt(from.seq);
    const stored = from.seq === head.seq ? head.hash : await storedHash(pairId, from.seq);
    if (stored !== from.hash) return brokenAt(from.seq);
    // The whole chain's result answers when it already covers the checkpoint, and for a long
    // suffix (so no checkpoint makes every call cost a long run), unless it breaks before it.
    const last = recent(pairId);
    if ((last?.result.valid && last.head.seq >= from.seq) || head.seq - from.seq > LONG_SUFFIX_EVENTS) {
      const whole = await verifyWhole(pairId);
      if (whole.valid || (whole.brokenAtSeq ?? 0) > from.seq) return whole;
    }
    const question = `suffix:${from.seq}:${from.hash}:${head.seq}:${head.hash}`;
    while (true) {
      const answered = lastSuffix.get(pairId);
      if (answered?.question === question && isRecent(answered.at)) return answered.result;
      const current = running.get(pairId);
      if (current?.question === question) return current.run;
      if (current) {
        await settled(current.run);
        continue;
      }
      const at = clock.now().getTime();
      return start(pairId, question, async () => {
        const result = await checkLinks(pairId, from, head);
        lastSuffix.set(pairId, { question, result, at });
        return result;
      });
    }
  }

  return {
    /**
     * The chain recomputed, from the start or (with `from`) after a
     * checkpoint the caller holds, whose stored hash must match: otherwise
     * it breaks at `from.seq`.
     */
    verify(pairId: string, from?: ChainPoint): Promise<Verification> {
      return from ? verifySuffix(pairId, from) : verifyWhole(pairId);
    },
    stats: (): VerificationStats => ({ ...stats }),
  };
}

export type ChainVerifier = ReturnType<typeof createChainVerifier>;
