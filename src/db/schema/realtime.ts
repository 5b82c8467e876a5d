import { index, pgTable, text, uuid } from "drizzle-orm/pg-core";
import { users } from "./auth.js";
import { instant } from "./columns.js";

/** Single-use tickets that let a browser open the stream without putting a token in a URL. */
export const streamTickets = pgTable(
  "stream_tickets",
  {
    // sha256 of the ticket, hex: the ticket itself is never stored.
    ticketHash: text("ticket_hash").primaryKey(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id),
    familyId: uuid("family_id").notNull(),
    // No key to `pairs`: a ticket is found by its hash alone, so under Citus tickets stay on the
    // coordinator, which cannot reference a distributed table (src/db/citus/distribute.sql).
    pairId: uuid("pair_id").notNull(),
    createdAt: instant("created_at").notNull(),
    expiresAt: instant("expires_at").notNull(),
    usedAt: instant("used_at"),
  },
  (table) => [index("stream_tickets_expires_idx").on(table.expiresAt)],
);
