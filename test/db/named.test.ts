import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db, Executor } from "../../src/db/client.js";
import { executeNamed } from "../../src/db/named.js";
import * as schema from "../../src/db/schema/index.js";
import { createTestDatabase } from "../helpers/database.js";

/**
 * `executeNamed` is the one place that reaches into drizzle's private
 * session API (`executor._.session.prepareQuery`): drizzle has no public
 * way to run hand-written SQL as a named statement inside a transaction.
 * These tests fail when that API changes shape or stops preparing by name.
 */

let pool: pg.Pool;
let db: Db;

beforeAll(async () => {
  // One connection, so what the pool prepared can be read back on it.
  pool = new pg.Pool({ connectionString: await createTestDatabase(), max: 1 });
  db = drizzle(pool, { schema }) as Db;
});
afterAll(() => pool.end());

async function preparedOn(executor: Executor, name: string): Promise<string[]> {
  const { rows } = await executor.execute<{ statement: string }>(
    sql`SELECT statement FROM pg_prepared_statements WHERE name = ${name}`,
  );
  return rows.map((row) => row.statement);
}

describe("executeNamed", () => {
  it("reaches a drizzle session that still prepares queries, on the pool and in a transaction", async () => {
    const shape = (executor: unknown) =>
      typeof (executor as { _?: { session?: { prepareQuery?: unknown } } })._?.session?.prepareQuery;
    expect(shape(db), "drizzle's private session API changed: src/db/named.ts must follow it").toBe("function");
    await db.transaction(async (tx) => {
      expect(shape(tx), "drizzle's private session API changed: src/db/named.ts must follow it").toBe("function");
    });
  });

  it("runs the statement under its name on the pool's connection, parsed once for every call", async () => {
    const query = (n: number) => sql`SELECT ${n}::int AS n, 'x' AS label`;
    expect(await executeNamed(db, "named_test_pool", query(1))).toEqual([{ n: 1, label: "x" }]);
    expect(await executeNamed(db, "named_test_pool", query(2))).toEqual([{ n: 2, label: "x" }]);
    expect(await preparedOn(db, "named_test_pool")).toEqual(["SELECT $1::int AS n, 'x' AS label"]);
  });

  it("runs the statement under its name on the transaction's own connection", async () => {
    await db.transaction(async (tx) => {
      await tx.execute(sql`CREATE TEMPORARY TABLE named_probe (id int) ON COMMIT DROP`);
      await executeNamed(tx, "named_test_tx", sql`INSERT INTO named_probe VALUES (${7}) RETURNING id`);
      // Seen inside the transaction only: the statement ran on its connection, in it.
      expect(await tx.execute(sql`SELECT id FROM named_probe`)).toMatchObject({ rows: [{ id: 7 }] });
      expect(await preparedOn(tx, "named_test_tx")).toHaveLength(1);
    });
  });

  it("refuses a second text under a name already used", async () => {
    await executeNamed(db, "named_test_once", sql`SELECT 1 AS one`);
    await expect(executeNamed(db, "named_test_once", sql`SELECT 2 AS two`)).rejects.toThrow(
      "statement named_test_once was prepared with another text",
    );
  });
});
