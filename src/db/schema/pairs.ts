import { sql } from "drizzle-orm";
import { boolean, foreignKey, index, pgTable, primaryKey, text, unique, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { users } from "./auth.js";
import { instant } from "./columns.js";

/** Two people who linked by consent. Every pair-scoped row elsewhere is keyed by its id. */
export const pairs = pgTable("pairs", {
  id: uuid("id").primaryKey(),
  status: text("status", { enum: ["active", "ended"] }).notNull(),
  createdAt: instant("created_at").notNull(),
  endedAt: instant("ended_at"),
  endedBy: uuid("ended_by").references(() => users.id),
  endReason: text("end_reason"),
});

/**
 * Each person's one active pair, keyed by the person: its primary key is
 * what keeps anyone from being in two active pairs, whatever the code does.
 * Written with the memberships, in the transaction that forms or ends the
 * pair. Keyed by person, not by pair: on Citus a reference table (see
 * src/db/citus/distribute.sql), so no key to the distributed `pairs`.
 */
export const activePairMembers = pgTable(
  "active_pair_members",
  {
    userId: uuid("user_id")
      .primaryKey()
      .references(() => users.id),
    pairId: uuid("pair_id").notNull(),
  },
  // What an active membership's foreign key points at.
  (table) => [unique("active_pair_members_user_pair_key").on(table.userId, table.pairId)],
);

export const pairMembers = pgTable(
  "pair_members",
  {
    pairId: uuid("pair_id")
      .notNull()
      .references(() => pairs.id),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id),
    joinedAt: instant("joined_at").notNull(),
    // True while the pair is active.
    active: boolean("active").notNull(),
    // The pair while active, null after: an active membership must be its
    // person's row in `active_pair_members` (the foreign key below), so the
    // database holds one active pair per person, whatever writes here. The
    // trigger `pair_members_one_active_pair` (src/db/sql/) refuses a second
    // one first, as the unique violation it is.
    activePairId: uuid("active_pair_id").generatedAlwaysAs(sql`CASE WHEN active THEN pair_id END`),
    // The member as the pair showed them when it ended (null while active): a former partner
    // sees these, never later changes. The zone is kept for the figures even when it was not
    // shared; deleting the account blanks the name and the sharing.
    displayNameAtEnd: text("display_name_at_end"),
    timeZoneAtEnd: text("time_zone_at_end"),
    sharedTimeZoneAtEnd: boolean("shared_time_zone_at_end"),
  },
  (table) => [
    primaryKey({ columns: [table.pairId, table.userId] }),
    foreignKey({
      name: "pair_members_active_pair_fk",
      columns: [table.userId, table.activePairId],
      foreignColumns: [activePairMembers.userId, activePairMembers.pairId],
    }),
    index("pair_members_user_idx").on(table.userId),
  ],
);

export const invites = pgTable(
  "invites",
  {
    id: uuid("id").primaryKey(),
    inviterId: uuid("inviter_id")
      .notNull()
      .references(() => users.id),
    // sha256 of the normalised code, hex: the code itself is shown once and never stored.
    codeHash: text("code_hash").notNull(),
    status: text("status", { enum: ["pending", "used", "revoked"] }).notNull(),
    createdAt: instant("created_at").notNull(),
    expiresAt: instant("expires_at").notNull(),
    closedAt: instant("closed_at"),
    // The pair it formed. No key to `pairs`: an invite exists before its pair and, keyed by
    // its code, stays on the coordinator under Citus, which cannot reference a distributed table.
    pairId: uuid("pair_id"),
  },
  (table) => [
    uniqueIndex("invites_code_hash_key").on(table.codeHash),
    uniqueIndex("invites_one_pending_per_user").on(table.inviterId).where(sql`${table.status} = 'pending'`),
  ],
);
