import { sql } from "drizzle-orm";
import { boolean, index, integer, pgTable, text, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { instant } from "./columns.js";

export const users = pgTable(
  "users",
  {
    id: uuid("id").primaryKey(),
    // Null once the account is deleted: the row stays as a tombstone so pair history still verifies.
    email: text("email"),
    displayName: text("display_name"),
    timeZone: text("time_zone").notNull(),
    // Whether the partner may see `time_zone` (Safety rules: no tracking); off unless the person turns it on.
    shareTimeZone: boolean("share_time_zone").notNull().default(false),
    passwordHash: text("password_hash"),
    version: integer("version").notNull().default(1),
    createdAt: instant("created_at").notNull(),
    updatedAt: instant("updated_at").notNull(),
    deletedAt: instant("deleted_at"),
  },
  (table) => [uniqueIndex("users_email_lower_key").on(sql`lower(${table.email})`)],
);

/** One login: every refresh token rotated from one sign-in shares a family. */
export const refreshFamilies = pgTable(
  "refresh_families",
  {
    id: uuid("id").primaryKey(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id),
    createdAt: instant("created_at").notNull(),
    revokedAt: instant("revoked_at"),
    revokedReason: text("revoked_reason"),
  },
  (table) => [index("refresh_families_user_idx").on(table.userId)],
);

export const refreshTokens = pgTable(
  "refresh_tokens",
  {
    id: uuid("id").primaryKey(),
    familyId: uuid("family_id")
      .notNull()
      .references(() => refreshFamilies.id),
    // sha256 of the token, hex: the token itself is never stored.
    tokenHash: text("token_hash").notNull(),
    createdAt: instant("created_at").notNull(),
    expiresAt: instant("expires_at").notNull(),
    rotatedAt: instant("rotated_at"),
  },
  (table) => [
    uniqueIndex("refresh_tokens_hash_key").on(table.tokenHash),
    index("refresh_tokens_family_idx").on(table.familyId),
  ],
);
