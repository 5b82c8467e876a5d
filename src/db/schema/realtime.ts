import { index, pgTable, text, uuid } from "drizzle-orm/pg-core";
import { users } from "./auth.js";
import { instant } from "./columns.js";
import { pairs } from "./pairs.js";

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
    pairId: uuid("pair_id")
      .notNull()
      .references(() => pairs.id),
    createdAt: instant("created_at").notNull(),
    expiresAt: instant("expires_at").notNull(),
    usedAt: instant("used_at"),
  },
  (table) => [index("stream_tickets_expires_idx").on(table.expiresAt)],
);
