import { bigint, index, jsonb, pgTable, primaryKey, text, uuid } from "drizzle-orm/pg-core";
import { instant } from "./columns.js";
import { pairs } from "./pairs.js";

/**
 * The pair's timeline: append-only (a trigger refuses UPDATE, DELETE and
 * TRUNCATE), gap-free `seq` per pair, each row hash-chained to the last.
 */
export const events = pgTable(
  "events",
  {
    pairId: uuid("pair_id")
      .notNull()
      .references(() => pairs.id),
    seq: bigint("seq", { mode: "number" }).notNull(),
    type: text("type").notNull(),
    actorId: uuid("actor_id"),
    subjectType: text("subject_type").notNull(),
    subjectId: uuid("subject_id").notNull(),
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull(),
    occurredAt: instant("occurred_at").notNull(),
    prevHash: text("prev_hash").notNull(),
    hash: text("hash").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.pairId, table.seq] }),
    index("events_pair_subject_idx").on(table.pairId, table.subjectId, table.seq),
  ],
);

/** The head of each pair's chain: locking this row is what serialises appends to one pair. */
export const eventHeads = pgTable("event_heads", {
  pairId: uuid("pair_id")
    .primaryKey()
    .references(() => pairs.id),
  lastSeq: bigint("last_seq", { mode: "number" }).notNull(),
  headHash: text("head_hash").notNull(),
});
