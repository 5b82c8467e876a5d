import { sql } from "drizzle-orm";
import { foreignKey, index, integer, pgTable, primaryKey, text, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { instant } from "./columns.js";
import { pairs } from "./pairs.js";

export const boundaryCategories = ["communication", "finances", "social", "privacy", "space", "other"] as const;
export const boundaryStatuses = ["proposed", "agreed", "declined", "cancelled", "withdrawn", "ended"] as const;
export const boundaryVersionStatuses = ["pending", "agreed", "declined", "cancelled"] as const;
/** Why a boundary left `proposed`/`agreed` for good (machine words; the person's own words are in `close_reason`). */
export const boundaryCloseCauses = [
  "declined",
  "cancelled_by_proposer",
  "not_accepted_in_time",
  "withdrawn",
  "time_box_ended",
  "pair_ended",
] as const;

/**
 * A boundary and the content in force (for `proposed`, the proposal).
 * `version` is the content version; `row_version` moves on every change and
 * drives the ETag.
 */
export const boundaries = pgTable(
  "boundaries",
  {
    pairId: uuid("pair_id")
      .notNull()
      .references(() => pairs.id),
    id: uuid("id").notNull(),
    status: text("status", { enum: boundaryStatuses }).notNull(),
    version: integer("version").notNull(),
    rowVersion: integer("row_version").notNull(),
    title: text("title").notNull(),
    text: text("text").notNull(),
    category: text("category", { enum: boundaryCategories }).notNull(),
    startsAt: instant("starts_at"),
    endsAt: instant("ends_at"),
    reviewAt: instant("review_at"),
    proposedBy: uuid("proposed_by").notNull(),
    createdAt: instant("created_at").notNull(),
    updatedAt: instant("updated_at").notNull(),
    closedAt: instant("closed_at"),
    // Null when the sweep closed it.
    closedBy: uuid("closed_by"),
    closeCause: text("close_cause", { enum: boundaryCloseCauses }),
    closeReason: text("close_reason"),
    // The `review_at` for which `boundary.review_due` was emitted: once per review date.
    reviewNotifiedFor: instant("review_notified_for"),
  },
  (table) => [
    primaryKey({ columns: [table.pairId, table.id] }),
    index("boundaries_pair_status_idx").on(table.pairId, table.status, table.id),
    // The sweep's candidates: open boundaries with a time box or a review date.
    index("boundaries_open_ends_at_idx")
      .on(table.endsAt)
      .where(sql`${table.status} IN ('proposed', 'agreed') AND ${table.endsAt} IS NOT NULL`),
    index("boundaries_agreed_review_at_idx")
      .on(table.reviewAt)
      .where(sql`${table.status} = 'agreed' AND ${table.reviewAt} IS NOT NULL`),
  ],
);

/**
 * Every content a boundary was proposed with: the first proposal (version
 * 1) and each revision. `agreed` rows are its versions; at most one row is
 * `pending` per boundary; a declined or cancelled revision keeps its row
 * and its number is used again by the next revision.
 */
export const boundaryVersions = pgTable(
  "boundary_versions",
  {
    pairId: uuid("pair_id").notNull(),
    id: uuid("id").notNull(),
    boundaryId: uuid("boundary_id").notNull(),
    version: integer("version").notNull(),
    status: text("status", { enum: boundaryVersionStatuses }).notNull(),
    title: text("title").notNull(),
    text: text("text").notNull(),
    category: text("category", { enum: boundaryCategories }).notNull(),
    startsAt: instant("starts_at"),
    endsAt: instant("ends_at"),
    reviewAt: instant("review_at"),
    // Fields this revision changes (empty for the first proposal).
    changedFields: text("changed_fields").array().notNull(),
    reason: text("reason"),
    proposedBy: uuid("proposed_by").notNull(),
    proposedAt: instant("proposed_at").notNull(),
    agreedBy: uuid("agreed_by"),
    agreedAt: instant("agreed_at"),
    closedBy: uuid("closed_by"),
    closedAt: instant("closed_at"),
    closeReason: text("close_reason"),
  },
  (table) => [
    primaryKey({ columns: [table.pairId, table.id] }),
    foreignKey({
      columns: [table.pairId, table.boundaryId],
      foreignColumns: [boundaries.pairId, boundaries.id],
    }),
    index("boundary_versions_boundary_idx").on(table.pairId, table.boundaryId, table.version),
    uniqueIndex("boundary_versions_one_agreed_per_number")
      .on(table.pairId, table.boundaryId, table.version)
      .where(sql`${table.status} = 'agreed'`),
    uniqueIndex("boundary_versions_one_pending")
      .on(table.pairId, table.boundaryId)
      .where(sql`${table.status} = 'pending'`),
  ],
);
