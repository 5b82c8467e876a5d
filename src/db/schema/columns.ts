import { timestamp } from "drizzle-orm/pg-core";

/** An instant: `timestamptz`, read as a JS Date. Every time column is one. */
export const instant = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });
