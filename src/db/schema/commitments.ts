import { sql } from "drizzle-orm";
import { boolean, foreignKey, index, integer, pgTable, primaryKey, text, uuid } from "drizzle-orm/pg-core";
import { users } from "./auth.js";
import { instant } from "./columns.js";
import { pairs } from "./pairs.js";

export const commitmentStatuses = ["open", "reported", "confirmed", "disputed", "lapsed", "withdrawn"] as const;
export const commitmentCategories = [
  "time",
  "communication",
  "honesty",
  "finances",
  "household",
  "social",
  "care",
  "other",
] as const;

/** A recurring commitment: its rule and the template every occurrence copies. */
export const series = pgTable(
  "series",
  {
    id: uuid("id").notNull(),
    pairId: uuid("pair_id")
      .notNull()
      .references(() => pairs.id),
    ownerId: uuid("owner_id")
      .notNull()
      .references(() => users.id),
    rrule: text("rrule").notNull(),
    timeZone: text("time_zone").notNull(),
    dtstart: instant("dtstart").notNull(),
    status: text("status", { enum: ["active", "ended"] }).notNull(),
    title: text("title").notNull(),
    details: text("details"),
    category: text("category", { enum: commitmentCategories }).notNull(),
    graceMinutes: integer("grace_minutes").notNull(),
    // Occurrences before this instant exist; the sweep extends it to now + horizon.
    generatedUntil: instant("generated_until").notNull(),
    exhausted: boolean("exhausted").notNull().default(false),
    createdAt: instant("created_at").notNull(),
    endedAt: instant("ended_at"),
  },
  (table) => [
    primaryKey({ columns: [table.pairId, table.id] }),
    index("series_pair_idx").on(table.pairId),
    index("series_to_extend_idx")
      .on(table.generatedUntil)
      .where(sql`${table.status} = 'active' AND NOT ${table.exhausted}`),
  ],
);

/** The "Settled" rule's `kept` (SQL function `commitment_figure_class`, src/db/sql/). */
const keptOnly = sql`commitment_figure_class(status, outcome, lapsed_at) = 'kept'`;

export const commitments = pgTable(
  "commitments",
  {
    id: uuid("id").notNull(),
    pairId: uuid("pair_id")
      .notNull()
      .references(() => pairs.id),
    ownerId: uuid("owner_id")
      .notNull()
      .references(() => users.id),
    title: text("title").notNull(),
    details: text("details"),
    category: text("category", { enum: commitmentCategories }).notNull(),
    dueAt: instant("due_at").notNull(),
    graceMinutes: integer("grace_minutes").notNull(),
    // due_at + grace, kept so the lapse sweep is one index range scan.
    lapsesAt: instant("lapses_at").notNull(),
    seriesId: uuid("series_id"),
    requestId: uuid("request_id"),
    status: text("status", { enum: commitmentStatuses }).notNull(),
    outcome: text("outcome", { enum: ["kept", "missed"] }),
    reportNote: text("report_note"),
    reportedAt: instant("reported_at"),
    reportTiming: text("report_timing", { enum: ["early", "onTime", "late"] }),
    confirmationState: text("confirmation_state", { enum: ["pending", "confirmed", "disputed"] }),
    confirmationAuto: boolean("confirmation_auto"),
    confirmationNote: text("confirmation_note"),
    confirmationAt: instant("confirmation_at"),
    // reported_at + the confirmation window; the auto-confirm sweep scans it.
    confirmationDueAt: instant("confirmation_due_at"),
    lapsedAt: instant("lapsed_at"),
    withdrawnAt: instant("withdrawn_at"),
    withdrawReason: text("withdraw_reason"),
    withdrawCause: text("withdraw_cause", { enum: ["owner", "pair_ended", "series_ended"] }),
    rescheduleDueAt: instant("reschedule_due_at"),
    rescheduleReason: text("reschedule_reason"),
    rescheduleProposedAt: instant("reschedule_proposed_at"),
    acknowledgementText: text("acknowledgement_text"),
    acknowledgedAt: instant("acknowledged_at"),
    acknowledgementAcceptedAt: instant("acknowledgement_accepted_at"),
    version: integer("version").notNull().default(1),
    createdAt: instant("created_at").notNull(),
    updatedAt: instant("updated_at").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.pairId, table.id] }),
    foreignKey({ columns: [table.pairId, table.seriesId], foreignColumns: [series.pairId, series.id] }),
    index("commitments_pair_due_idx").on(table.pairId, table.dueAt, table.id),
    index("commitments_series_idx").on(table.pairId, table.seriesId),
    index("commitments_to_lapse_idx").on(table.lapsesAt).where(sql`${table.status} = 'open'`),
    index("commitments_to_autoconfirm_idx").on(table.confirmationDueAt).where(sql`${table.status} = 'reported'`),
    index("commitments_reschedule_idx").on(table.dueAt).where(sql`${table.rescheduleDueAt} IS NOT NULL`),
    // The inbox: what a partner may answer (a report, a proposed time, an acknowledgement).
    index("commitments_awaiting_idx")
      .on(table.pairId, table.ownerId)
      .where(
        sql`${table.status} = 'reported' OR ${table.rescheduleDueAt} IS NOT NULL OR (${table.acknowledgedAt} IS NOT NULL AND ${table.acknowledgementAcceptedAt} IS NULL)`,
      ),
    // Settled as kept, in walk order: a miss settling inside a run counts those after it (the totals' trigger).
    index("commitments_kept_idx").on(table.pairId, table.ownerId, table.dueAt, table.id).where(keptOnly),
    index("commitments_kept_category_idx")
      .on(table.pairId, table.ownerId, table.category, table.dueAt, table.id)
      .where(keptOnly),
  ],
);

/**
 * The figures of all time, one row per owner in a pair and scope (`all`, or
 * one category): the counts by class and both streaks. A read model kept by
 * triggers on `commitments` (src/db/sql/) in the transaction of every
 * change, whoever writes, so reading it costs the same whatever the history.
 * No foreign keys: derived rows, rebuilt from `commitments` at will.
 */
export const commitmentFigureTotals = pgTable(
  "commitment_figure_totals",
  {
    pairId: uuid("pair_id").notNull(),
    ownerId: uuid("owner_id").notNull(),
    scope: text("scope").notNull(),
    kept: integer("kept").notNull().default(0),
    missed: integer("missed").notNull().default(0),
    lapsed: integer("lapsed").notNull().default(0),
    withdrawn: integer("withdrawn").notNull().default(0),
    disputed: integer("disputed").notNull().default(0),
    awaitingConfirmation: integer("awaiting_confirmation").notNull().default(0),
    open: integer("open").notNull().default(0),
    reportedInTime: integer("reported_in_time").notNull().default(0),
    acknowledgedMisses: integer("acknowledged_misses").notNull().default(0),
    acknowledgementsAccepted: integer("acknowledgements_accepted").notNull().default(0),
    // The run of kept after the last break of the walk.
    currentStreak: integer("current_streak").notNull().default(0),
    longestStreak: integer("longest_streak").notNull().default(0),
  },
  (table) => [primaryKey({ columns: [table.pairId, table.ownerId, table.scope] })],
);

/**
 * The breaks (settled missed or lapsed) of each walk in
 * `commitment_figure_totals`, each with the run of kept just before it;
 * the run after the last break is the totals' `current_streak`.
 */
export const commitmentStreakBreaks = pgTable(
  "commitment_streak_breaks",
  {
    pairId: uuid("pair_id").notNull(),
    ownerId: uuid("owner_id").notNull(),
    scope: text("scope").notNull(),
    dueAt: instant("due_at").notNull(),
    commitmentId: uuid("commitment_id").notNull(),
    runBefore: integer("run_before").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.pairId, table.ownerId, table.scope, table.dueAt, table.commitmentId] }),
    // The longest run of a walk, when the one that was longest shrinks.
    index("commitment_streak_breaks_run_idx").on(table.pairId, table.ownerId, table.scope, table.runBefore),
  ],
);

/** A partner's ask ("can you be home by 7?") that becomes a commitment only if the other accepts. */
export const commitmentRequests = pgTable(
  "commitment_requests",
  {
    id: uuid("id").notNull(),
    pairId: uuid("pair_id")
      .notNull()
      .references(() => pairs.id),
    requesterId: uuid("requester_id")
      .notNull()
      .references(() => users.id),
    ownerId: uuid("owner_id")
      .notNull()
      .references(() => users.id),
    title: text("title").notNull(),
    details: text("details"),
    category: text("category", { enum: commitmentCategories }).notNull(),
    dueAt: instant("due_at").notNull(),
    graceMinutes: integer("grace_minutes").notNull(),
    status: text("status", { enum: ["pending", "accepted", "declined", "cancelled", "expired"] }).notNull(),
    commitmentId: uuid("commitment_id"),
    reason: text("reason"),
    answeredAt: instant("answered_at"),
    version: integer("version").notNull().default(1),
    createdAt: instant("created_at").notNull(),
    updatedAt: instant("updated_at").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.pairId, table.id] }),
    index("commitment_requests_pair_idx").on(table.pairId, table.createdAt, table.id),
    index("commitment_requests_to_expire_idx").on(table.dueAt).where(sql`${table.status} = 'pending'`),
    index("commitment_requests_pending_idx").on(table.pairId, table.ownerId).where(sql`${table.status} = 'pending'`),
  ],
);

/** The texts a commitment keeps every version of (Safety rules: words on record stay on record). */
export const commitmentTextFields = ["title", "details", "reportNote", "disputeNote"] as const;

/**
 * Every version of a commitment's words, in the order written: its title
 * and details (at creation and at each edit), each report's note and each
 * dispute's note. `hash` is HMAC-SHA256 of the text keyed by `salt` (random
 * per text), the same value its event carries; deleting the author's
 * account blanks `text` and `salt` and keeps `hash`. Rows are appended,
 * never rewritten, except by that erasure.
 */
export const commitmentTexts = pgTable(
  "commitment_texts",
  {
    pairId: uuid("pair_id").notNull(),
    commitmentId: uuid("commitment_id").notNull(),
    // 1, 2, … in the order written on this commitment.
    n: integer("n").notNull(),
    field: text("field", { enum: commitmentTextFields }).notNull(),
    text: text("text"),
    salt: text("salt"),
    hash: text("hash"),
    authorId: uuid("author_id")
      .notNull()
      .references(() => users.id),
    writtenAt: instant("written_at").notNull(),
    // Which report (1 the first, 2 its first revision…) a report or dispute note belongs to.
    reportNumber: integer("report_number"),
    // The outcome a report note came with.
    outcome: text("outcome", { enum: ["kept", "missed"] }),
    erasedAt: instant("erased_at"),
  },
  (table) => [
    primaryKey({ columns: [table.pairId, table.commitmentId, table.n] }),
    foreignKey({ columns: [table.pairId, table.commitmentId], foreignColumns: [commitments.pairId, commitments.id] }),
    index("commitment_texts_author_idx").on(table.pairId, table.authorId),
  ],
);
