import canonicalize from "canonicalize";
import { and, asc, eq, gt, inArray, type SQL, sql } from "drizzle-orm";
import { CompactSign } from "jose";
import type { Logger } from "pino";
import type { Clock } from "../../clock.js";
import type { Db, Executor, Tx } from "../../db/client.js";
import { executeNamed } from "../../db/named.js";
import { eventHeads, events } from "../../db/schema/history.js";
import { afterCommit } from "../../db/transaction.js";
import type { Page } from "../../http/pagination.js";
import type { KeyRing } from "../auth/index.js";
import { canonicalEventAround, GENESIS_HASH } from "./chain.js";
import type { Checkpoint, PairEvent, Verification } from "./history.schemas.js";
import { type ChainPoint, createChainVerifier } from "./verification.js";

export type NewEvent<Type extends string = string> = {
  pairId: string;
  type: Type;
  /** null for system events (the sweep). */
  actorId: string | null;
  subjectType: string;
  subjectId: string;
  /** Ids, states and changed field names only: events are never erased, personal text would be. */
  payload: Record<string, unknown>;
};

/**
 * The log as one module sees it: it may append only the event types it
 * lists (any other is a type error), so docs/api.md's event table can be
 * checked against those lists.
 */
export type EventLog<Type extends string> = {
  append: (tx: Tx, event: NewEvent<Type>) => Promise<PairEvent>;
  appendAlong: <R extends Record<string, unknown>>(
    executor: Executor,
    along: { name: string; gate: string; event: NewEvent<Type> },
    statement: (eventCtes: SQL) => SQL,
  ) => Promise<{ row: R; event: PairEvent } | undefined>;
};

export type EventQuery = { after: number; limit: number; types?: string[] | undefined; subjectId?: string | undefined };

export const CHECKPOINT_TYPE = "kept-checkpoint+jws";
/** The PostgreSQL notification channel that wakes stream hubs: payload `{pairId, seq}`. */
export const EVENTS_CHANNEL = "kept_events";
const EXPORT_BATCH = 500;

type EventRow = typeof events.$inferSelect;
type AppendedHead = { seq: string | number; prev_hash: string; hash: string };
type AlongHead = { event_seq: string | number; event_prev_hash: string; event_hash: string };

export function toEvent(row: EventRow): PairEvent {
  return {
    pairId: row.pairId,
    seq: row.seq,
    type: row.type,
    actorId: row.actorId,
    subjectType: row.subjectType,
    subjectId: row.subjectId,
    payload: row.payload,
    occurredAt: row.occurredAt.toISOString(),
    prevHash: row.prevHash,
    hash: row.hash,
  };
}

export type HistoryServiceDeps = { db: Db; clock: Clock; keys: KeyRing; logger: Logger };

export function createHistoryService({ db, clock, keys, logger }: HistoryServiceDeps) {
  /**
   * Wake-ups committed in the same tick go out in one statement (the latest
   * seq per pair is all a hub needs). Fire and forget: a lost wake-up is
   * caught up by the hubs' periodic head check.
   */
  let wakeUps = new Map<string, number>();
  function flushWakeUps(): void {
    const payloads = [...wakeUps].map(([pairId, seq]) => JSON.stringify({ pairId, seq }));
    wakeUps = new Map();
    db.$client
      .query({
        name: "history_wake_hubs",
        text: "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload",
        values: [EVENTS_CHANNEL, payloads],
      })
      .catch((error: unknown) => logger.warn({ err: error }, "could not notify stream hubs; they will catch up"));
  }
  function notify(pairId: string, seq: number): void {
    if (wakeUps.size === 0) setImmediate(flushWakeUps);
    wakeUps.set(pairId, Math.max(seq, wakeUps.get(pairId) ?? 0));
  }

  /**
   * The CTEs that append one event, ending in `appended_event (seq,
   * prev_hash, hash)`: lock the pair's chain head, draw the next seq, hash
   * `prevHash ‖ canonical event` (the canonical text is made here, around
   * the seq; PostgreSQL's sha256 is the same function), insert the event and
   * move the head. With `gate`, nothing is appended unless that CTE has rows.
   */
  function appendingCtes(event: NewEvent, occurredAt: Date, gate?: string): SQL {
    const { before, after } = canonicalEventAround({ ...event, occurredAt });
    const gated = gate ? sql` AND EXISTS (SELECT 1 FROM ${sql.identifier(gate)})` : sql``;
    return sql`event_head AS (
        SELECT last_seq + 1 AS seq, head_hash AS prev_hash FROM event_heads WHERE pair_id = ${event.pairId}${gated} FOR UPDATE
      ), event_chained AS (
        SELECT seq, prev_hash,
               encode(sha256(convert_to(prev_hash || ${before}::text || seq::text || ${after}::text, 'UTF8')), 'hex') AS hash
        FROM event_head
      ), event_inserted AS (
        INSERT INTO events (pair_id, seq, type, actor_id, subject_type, subject_id, payload, occurred_at, prev_hash, hash)
        SELECT ${event.pairId}, seq, ${event.type}, ${event.actorId}, ${event.subjectType}, ${event.subjectId},
               ${JSON.stringify(event.payload)}::jsonb, ${occurredAt.toISOString()}::timestamptz, prev_hash, hash
        FROM event_chained
        RETURNING seq, prev_hash, hash
      ), appended_event AS (
        UPDATE event_heads SET last_seq = event_inserted.seq, head_hash = event_inserted.hash
        FROM event_inserted WHERE event_heads.pair_id = ${event.pairId}
        RETURNING event_inserted.seq, event_inserted.prev_hash, event_inserted.hash
      )`;
  }

  /**
   * Wakes the stream hubs with a NOTIFY carrying ids only ({pairId, seq}),
   * after commit (PostgreSQL serialises the commits of notifying
   * transactions: bench/notify.ts measured about a third of the throughput
   * under concurrent writes), or at once after a statement that committed
   * by itself.
   */
  function appended(executor: Executor, event: NewEvent, occurredAt: Date, head: AppendedHead) {
    const seq = Number(head.seq);
    const appendedEvent = toEvent({ ...event, seq, occurredAt, prevHash: head.prev_hash, hash: head.hash });
    const committed = () => {
      notify(event.pairId, seq);
      for (const listener of committedListeners) listener(appendedEvent);
    };
    if (executor === db) committed();
    else afterCommit(executor as Tx, committed);
    return appendedEvent;
  }
  const committedListeners: ((event: PairEvent) => void)[] = [];

  const timelinePageJson = {
    name: "history_timeline_json",
    text: `SELECT seq, row_to_json(e)::text AS json FROM (
        SELECT pair_id AS "pairId", seq, type, actor_id AS "actorId", subject_type AS "subjectType",
               subject_id AS "subjectId", payload,
               to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "occurredAt",
               prev_hash AS "prevHash", hash
        FROM events WHERE pair_id = $1 AND seq > $2 ORDER BY seq LIMIT $3
      ) AS e`,
  };

  // The timeline read (no type or subject filter), built and planned once.
  const timelinePage = db
    .select()
    .from(events)
    .where(and(eq(events.pairId, sql.placeholder("pairId")), gt(events.seq, sql.placeholder("after"))))
    .orderBy(asc(events.seq))
    .limit(sql.placeholder("limit"))
    .prepare("history_timeline_page");

  async function headOf(pairId: string, executor: Executor = db): Promise<ChainPoint> {
    const [head] = await executor
      .select({ seq: eventHeads.lastSeq, hash: eventHeads.headHash })
      .from(eventHeads)
      .where(eq(eventHeads.pairId, pairId));
    return head ?? { seq: 0, hash: GENESIS_HASH };
  }
  const verifier = createChainVerifier({ db, clock, head: (pairId) => headOf(pairId) });

  return {
    /**
     * Hears each event this instance appends, once it has committed (the
     * stream hub sends it without reading it back). Other instances' events
     * arrive by NOTIFY instead.
     */
    onCommitted(listener: (event: PairEvent) => void): void {
      committedListeners.push(listener);
    },

    /**
     * A scalar subquery that locks the chain head of the pair `pairId`
     * names (FOR UPDATE), for the pairs module's write lock: pair row, then
     * chain head, the lock order of every write in a pair.
     */
    chainHeadLock(pairId: SQL): SQL {
      return sql`(SELECT ${eventHeads.pairId} FROM ${eventHeads} WHERE ${eventHeads.pairId} = ${pairId} FOR UPDATE)`;
    },

    /** Creates the (empty) chain of a new pair, in the transaction that creates the pair. */
    async startChain(tx: Tx, pairId: string): Promise<void> {
      await tx.insert(eventHeads).values({ pairId, lastSeq: 0, headHash: GENESIS_HASH });
    },

    /**
     * Appends one event inside the caller's transaction, so the change and
     * its event commit together or not at all. Locking the pair's chain head
     * serialises appends to that pair (gap-free seq, one chain) while other
     * pairs never wait. Callers lock the pair row first (one lock order).
     *
     * One statement, one round trip: it locks the head, draws the next seq,
     * hashes `prevHash ‖ canonical event` (the canonical text is made here,
     * around the seq; PostgreSQL's sha256 is the same function), inserts the
     * event and moves the head.
     */
    async append(tx: Tx, event: NewEvent): Promise<PairEvent> {
      const occurredAt = clock.now();
      const [head] = await executeNamed<AppendedHead>(
        tx,
        "history_append",
        sql`WITH ${appendingCtes(event, occurredAt)} SELECT seq, prev_hash, hash FROM appended_event`,
      );
      if (!head) throw new Error(`pair ${event.pairId} has no event chain`);
      return appended(tx, event, occurredAt, head);
    },

    /**
     * A change and its event in one statement (one round trip, and atomic
     * by itself, so it needs no transaction of its own). `statement` gets
     * the event's CTEs to put after the change's own, and must end with
     * `SELECT <its columns>, appended_event.seq AS event_seq,
     * appended_event.prev_hash AS event_prev_hash, appended_event.hash AS
     * event_hash FROM <gate> CROSS JOIN appended_event`. The event is only
     * appended if the CTE named `gate` has rows; undefined when it had none.
     * `name` names the prepared statement (one text per name).
     */
    async appendAlong<R extends Record<string, unknown>>(
      executor: Executor,
      along: { name: string; gate: string; event: NewEvent },
      statement: (eventCtes: SQL) => SQL,
    ): Promise<{ row: R; event: PairEvent } | undefined> {
      const { event } = along;
      const occurredAt = clock.now();
      const statementSql = statement(appendingCtes(event, occurredAt, along.gate));
      const [row] = await executeNamed<R & AlongHead>(executor, along.name, statementSql);
      if (!row) return undefined;
      const head = { seq: row.event_seq, prev_hash: row.event_prev_hash, hash: row.event_hash };
      return { row, event: appended(executor, event, occurredAt, head) };
    },

    /**
     * The unfiltered timeline page as JSON text, written by PostgreSQL (the
     * hottest read: no row objects, no serializer). The same fields and
     * formats as `toEvent` and the EventPage schema; a test holds them equal.
     */
    async timelinePageJson(pairId: string, after: number, limit: number): Promise<string> {
      const { rows } = await db.$client.query<{ seq: string; json: string }>({
        ...timelinePageJson,
        values: [pairId, after, limit + 1],
      });
      const more = rows.length > limit;
      const page = more ? rows.slice(0, limit) : rows;
      const next = more ? JSON.stringify(String(page.at(-1)?.seq)) : "null";
      return `{"data":[${page.map((row) => row.json).join(",")}],"nextCursor":${next}}`;
    },

    /** The timeline in seq order, after a seq, optionally narrowed by type and subject. */
    async list(pairId: string, query: EventQuery, executor: Executor = db): Promise<Page<PairEvent>> {
      const filtered = (query.types && query.types.length > 0) || query.subjectId;
      let rows: EventRow[];
      if (executor === db && !filtered) {
        rows = await timelinePage.execute({ pairId, after: query.after, limit: query.limit + 1 });
      } else {
        const conditions = [eq(events.pairId, pairId), gt(events.seq, query.after)];
        if (query.types && query.types.length > 0) conditions.push(inArray(events.type, query.types));
        if (query.subjectId) conditions.push(eq(events.subjectId, query.subjectId));
        rows = await executor
          .select()
          .from(events)
          .where(and(...conditions))
          .orderBy(asc(events.seq))
          .limit(query.limit + 1);
      }
      const data = rows.slice(0, query.limit).map(toEvent);
      const last = data.at(-1);
      return { data, nextCursor: rows.length > query.limit && last ? String(last.seq) : null };
    },

    /** Every event of a pair in seq order, a batch at a time (exports stream them). */
    async *eventBatches(executor: Executor, pairId: string): AsyncGenerator<PairEvent[]> {
      let after = 0;
      while (true) {
        const page = await this.list(pairId, { after, limit: EXPORT_BATCH }, executor);
        if (page.data.length > 0) yield page.data;
        const last = page.data.at(-1);
        if (!last || page.nextCursor === null) return;
        after = last.seq;
      }
    },

    head: headOf,

    /** The latest seq of each pair (0 when it has none), for hubs catching up. */
    async heads(pairIds: string[]): Promise<Map<string, number>> {
      if (pairIds.length === 0) return new Map();
      const rows = await db
        .select({ pairId: eventHeads.pairId, seq: eventHeads.lastSeq })
        .from(eventHeads)
        .where(inArray(eventHeads.pairId, pairIds));
      return new Map(rows.map((r) => [r.pairId, r.seq]));
    },

    /**
     * Recomputes the chain (see verification.ts): from the start, or after a
     * checkpoint the caller holds. A gap, an edited field, a broken link or a
     * missing tail (fewer events than the head records) all report the first
     * seq that does not hold.
     */
    verify(pairId: string, from?: ChainPoint): Promise<Verification> {
      return verifier.verify(pairId, from);
    },

    /** How often the chain was read to verify it, and how many events that checked. */
    verificationStats: () => verifier.stats(),

    /** The chain head, signed: proof a client can keep that the history up to `seq` was this. */
    async checkpoint(pairId: string, executor: Executor = db): Promise<Checkpoint> {
      const head = await this.head(pairId, executor);
      const claims = { pairId, seq: head.seq, hash: head.hash, issuedAt: clock.now().toISOString() };
      const jws = await new CompactSign(new TextEncoder().encode(canonicalize(claims)))
        .setProtectedHeader({ alg: keys.signer.alg, kid: keys.signer.kid, typ: CHECKPOINT_TYPE })
        .sign(keys.signer.privateKey);
      return { ...claims, jws };
    },
  };
}

export type HistoryService = ReturnType<typeof createHistoryService>;
