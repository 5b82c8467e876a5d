import { sql } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import { describe, expect, it } from "vitest";
import { insertSelect } from "../../src/db/rows.js";
import { commitments } from "../../src/db/schema/index.js";

const dialect = new PgDialect();
const at = new Date("2030-01-01T19:00:00.000Z");

describe("insertSelect", () => {
  it("names each key's column in the table's order, with typed parameters, and computed columns as given", () => {
    const insert = insertSelect(
      commitments,
      { status: "open", id: "x", dueAt: at, details: null, pairId: "p" },
      {
        pairId: sql`writable.id`,
      },
    );
    const built = dialect.sqlToQuery(sql`${insert.columns} SELECT ${insert.values}`);
    expect(built.sql).toBe(
      `("id", "pair_id", "details", "due_at", "status") SELECT $1::uuid, writable.id, $2::text, $3::timestamp with time zone, $4::text`,
    );
    expect(built.params).toEqual(["x", null, at.toISOString(), "open"]);
  });

  it("refuses a key that is not a column", () => {
    expect(() => insertSelect(commitments, { dueDate: at } as never)).toThrow("dueDate is not a column");
  });
});
