import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { HOUR } from "../helpers/clock.js";
import { createCommitment } from "../helpers/commitments.js";
import { linkPair } from "../helpers/pairs.js";

/**
 * The app under test connects as the service role (every other test file
 * shows it works without the owner's rights); here that role's own
 * credentials try to rewrite the log.
 */

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t.close());

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The SQLSTATE a statement fails with ("accepted" when it runs), and the message. */
async function attempt(client: pg.Client, statement: string, values: unknown[] = []): Promise<[string, string]> {
  return client.query(statement, values).then(
    () => ["accepted", ""],
    (error: { code?: string; message: string }) => [error.code ?? "no code", error.message],
  );
}

async function eventRows(pairId: string): Promise<unknown[]> {
  return withClient(t.databaseUrl, async (client) => {
    const { rows } = await client.query("SELECT * FROM events WHERE pair_id = $1 ORDER BY seq", [pairId]);
    return rows;
  });
}

describe("the service's database role", () => {
  it("cannot rewrite history: every way around the append-only log is refused with a permission error", async () => {
    const { pairId, inviter } = await linkPair(t);
    await createCommitment(t, pairId, inviter, {
      title: "Call the bank",
      dueAt: new Date(t.clock.now().getTime() + HOUR).toISOString(),
    });
    const before = await eventRows(pairId);
    expect(before.length).toBeGreaterThan(1);

    const messages: Record<string, string> = {};
    const refused = await withClient(t.serviceUrl, async (client) => {
      const attempts: Record<string, string> = {};
      for (const [name, statement, values] of [
        ["UPDATE", "UPDATE events SET type = 'pair.rewritten' WHERE pair_id = $1", [pairId]],
        ["DELETE", "DELETE FROM events WHERE pair_id = $1", [pairId]],
        ["TRUNCATE", "TRUNCATE events", []],
        ["DISABLE TRIGGER", "ALTER TABLE events DISABLE TRIGGER events_append_only", []],
        ["DISABLE TRIGGER ALL", "ALTER TABLE events DISABLE TRIGGER ALL", []],
        ["DROP TRIGGER", "DROP TRIGGER events_append_only ON events", []],
        ["SET session_replication_role", "SET session_replication_role = replica", []],
        ["ALTER ROLE", "ALTER ROLE CURRENT_USER SUPERUSER", []],
        ["CREATE TABLE", "CREATE TABLE events_copy (LIKE events)", []],
      ] as const) {
        const [code, message] = await attempt(client, statement, [...values]);
        attempts[name] = code;
        messages[name] = message;
      }
      return attempts;
    });
    // 42501 insufficient_privilege: refused by the grants, before any trigger runs.
    expect(refused).toEqual({
      UPDATE: "42501",
      DELETE: "42501",
      TRUNCATE: "42501",
      "DISABLE TRIGGER": "42501",
      "DISABLE TRIGGER ALL": "42501",
      "DROP TRIGGER": "42501",
      "SET session_replication_role": "42501",
      "ALTER ROLE": "42501",
      "CREATE TABLE": "42501",
    });
    for (const name of ["UPDATE", "DELETE", "TRUNCATE"]) {
      // The grants refuse them: the append-only trigger (the owner's last line) is never reached.
      expect(messages[name], name).toBe("permission denied for table events");
    }

    expect(await eventRows(pairId)).toEqual(before);
    const verified = await t.http.get(`/v1/pairs/${pairId}/verify`).set(inviter.auth).expect(200);
    expect(verified.body).toMatchObject({ valid: true, lastSeq: before.length, brokenAtSeq: null });
  });

  it("is no superuser, owns nothing, holds only SELECT and INSERT on events, and may write the other tables", async () => {
    const facts = await withClient(t.serviceUrl, async (client) => {
      const role = await client.query<{ rolsuper: boolean; rolcreaterole: boolean; rolcreatedb: boolean }>(
        "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user",
      );
      const owned = await client.query<{ n: number }>(
        `SELECT (SELECT count(*) FROM pg_class WHERE relowner = r.oid)
              + (SELECT count(*) FROM pg_proc WHERE proowner = r.oid)
              + (SELECT count(*) FROM pg_namespace WHERE nspowner = r.oid)
              + (SELECT count(*) FROM pg_database WHERE datdba = r.oid) AS n
         FROM pg_roles r WHERE r.rolname = current_user`,
      );
      const privileges = await client.query<{ table: string; privilege: string }>(
        `SELECT c.relname AS table, p.privilege
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
              unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p(privilege)
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND has_table_privilege(c.oid, p.privilege)
         ORDER BY 1, 2`,
      );
      const byTable = new Map<string, string[]>();
      for (const row of privileges.rows) byTable.set(row.table, [...(byTable.get(row.table) ?? []), row.privilege]);
      return { role: role.rows[0], owned: Number(owned.rows[0]?.n), byTable };
    });
    expect(facts.role).toEqual({ rolsuper: false, rolcreaterole: false, rolcreatedb: false });
    expect(facts.owned).toBe(0);
    expect(facts.byTable.get("events")).toEqual(["INSERT", "SELECT"]);
    // The chain head is updated on every append; the read models are written by triggers as the invoker.
    for (const table of ["event_heads", "commitments", "commitment_figure_totals", "commitment_streak_breaks"]) {
      expect(facts.byTable.get(table), table).toEqual(["DELETE", "INSERT", "SELECT", "UPDATE"]);
    }
    for (const [table, privileges] of facts.byTable) {
      if (table !== "events") expect(privileges, table).toEqual(["DELETE", "INSERT", "SELECT", "UPDATE"]);
    }
  });
});
