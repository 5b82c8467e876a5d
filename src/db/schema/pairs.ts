import { sql } from "drizzle-orm";
import { boolean, index, pgTable, primaryKey, text, uniqueIndex, uuid } from "drizzle-orm/pg-core";
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
    // True while the pair is active: the partial unique index below is what
    // keeps anyone from being in two active pairs, whatever the code does.
    active: boolean("active").notNull(),
    // The member as the pair showed them when it ended (null while active): a former partner
    // sees these, never later changes. The zone is kept for the figures even when it was not
    // shared; deleting the account blanks the name and the sharing.
    displayNameAtEnd: text("display_name_at_end"),
    timeZoneAtEnd: text("time_zone_at_end"),
    sharedTimeZoneAtEnd: boolean("shared_time_zone_at_end"),
  },
  (table) => [
    primaryKey({ columns: [table.pairId, table.userId] }),
    uniqueIndex("pair_members_one_active_pair").on(table.userId).where(sql`${table.active}`),
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
    pairId: uuid("pair_id").references(() => pairs.id),
  },
  (table) => [
    uniqueIndex("invites_code_hash_key").on(table.codeHash),
    uniqueIndex("invites_one_pending_per_user").on(table.inviterId).where(sql`${table.status} = 'pending'`),
  ],
);
