import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateWithLock, migrationsFolder } from "../../src/db/migrate.js";
import { createEmptyDatabase, ownerUrl, serviceRole } from "../helpers/database.js";

/**
 * The migration that keys commitments, series and requests by pair and
 * moves "one active pair per person" into `active_pair_members` arrives
 * with data already there: rows written on the schema just before it, in
 * SQL (today's code needs the new schema), then the rest of the migrations.
 */

const TAG_ENDS = "_pair_keyed_for_citus";

let folder: string;
let client: pg.Client;

beforeAll(async () => {
  const url = await createEmptyDatabase();
  folder = await mkdtemp(path.join(os.tmpdir(), "kept-migrations-"));
  await cp(migrationsFolder, folder, { recursive: true });
  const journalPath = path.join(folder, "meta/_journal.json");
  const journal = JSON.parse(await readFile(journalPath, "utf8")) as { entries: { tag: string }[] };
  const at = journal.entries.findIndex((entry) => entry.tag.endsWith(TAG_ENDS));
  expect(at).toBeGreaterThan(0);
  await writeFile(journalPath, JSON.stringify({ ...journal, entries: journal.entries.slice(0, at) }));
  // As the owner, as the service's own migrations run.
  client = new pg.Client({ connectionString: ownerUrl(url) });
  await client.connect();
  await migrate(drizzle(client), { migrationsFolder: folder });

  await client.query(`
    INSERT INTO users (id, time_zone, created_at, updated_at) VALUES
      ('00000000-0000-7000-8000-000000000001', 'UTC', now(), now()),
      ('00000000-0000-7000-8000-000000000002', 'UTC', now(), now()),
      ('00000000-0000-7000-8000-000000000003', 'UTC', now(), now());
    INSERT INTO pairs (id, status, created_at, ended_at) VALUES
      ('00000000-0000-7000-8000-0000000000a0', 'ended', now(), now()),
      ('00000000-0000-7000-8000-0000000000a1', 'active', now(), NULL);
    INSERT INTO pair_members (pair_id, user_id, joined_at, active) VALUES
      ('00000000-0000-7000-8000-0000000000a0', '00000000-0000-7000-8000-000000000001', now(), false),
      ('00000000-0000-7000-8000-0000000000a0', '00000000-0000-7000-8000-000000000003', now(), false),
      ('00000000-0000-7000-8000-0000000000a1', '00000000-0000-7000-8000-000000000001', now(), true),
      ('00000000-0000-7000-8000-0000000000a1', '00000000-0000-7000-8000-000000000002', now(), true);
    INSERT INTO invites (id, inviter_id, code_hash, status, created_at, expires_at, closed_at, pair_id) VALUES
      ('00000000-0000-7000-8000-0000000000b1', '00000000-0000-7000-8000-000000000001', 'hash', 'used',
       now(), now(), now(), '00000000-0000-7000-8000-0000000000a1');
    INSERT INTO series (id, pair_id, owner_id, rrule, time_zone, dtstart, status, title, category, grace_minutes,
                        generated_until, created_at) VALUES
      ('00000000-0000-7000-8000-0000000000c1', '00000000-0000-7000-8000-0000000000a1',
       '00000000-0000-7000-8000-000000000001', 'FREQ=DAILY', 'UTC', now(), 'active', 'Walk', 'care', 0, now(), now());
    INSERT INTO commitments (id, pair_id, owner_id, title, category, due_at, grace_minutes, lapses_at, series_id,
                             status, created_at, updated_at) VALUES
      ('00000000-0000-7000-8000-0000000000d1', '00000000-0000-7000-8000-0000000000a1',
       '00000000-0000-7000-8000-000000000001', 'Walk', 'care', now(), 0, now(),
       '00000000-0000-7000-8000-0000000000c1', 'open', now(), now());
    INSERT INTO commitment_requests (id, pair_id, requester_id, owner_id, title, category, due_at, grace_minutes,
                                     status, created_at, updated_at) VALUES
      ('00000000-0000-7000-8000-0000000000e1', '00000000-0000-7000-8000-0000000000a1',
       '00000000-0000-7000-8000-000000000002', '00000000-0000-7000-8000-000000000001', 'Call', 'other', now(), 0,
       'pending', now(), now());`);

  const pool = new pg.Pool({ connectionString: ownerUrl(url), max: 1 });
  try {
    await migrateWithLock(pool, { serviceRole: serviceRole() });
  } finally {
    await pool.end();
  }
});
afterAll(async () => {
  await client.end();
  await rm(folder, { recursive: true, force: true });
});

describe("the migration to keys by pair", () => {
  it("fills active_pair_members from the active memberships, and only those", async () => {
    const { rows } = await client.query("SELECT user_id, pair_id FROM active_pair_members ORDER BY user_id");
    expect(rows).toEqual([
      { user_id: "00000000-0000-7000-8000-000000000001", pair_id: "00000000-0000-7000-8000-0000000000a1" },
      { user_id: "00000000-0000-7000-8000-000000000002", pair_id: "00000000-0000-7000-8000-0000000000a1" },
    ]);
    const members = await client.query(
      "SELECT user_id, active_pair_id FROM pair_members WHERE active_pair_id IS NOT NULL ORDER BY user_id",
    );
    expect(members.rows).toEqual(rows.map(({ user_id, pair_id }) => ({ user_id, active_pair_id: pair_id })));
  });

  it("keys commitments, series and requests by (pair_id, id), the rows and their links kept", async () => {
    const { rows } = await client.query<{ table: string; columns: string[] }>(`
      SELECT c.relname AS table,
             array(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, position)
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                   ORDER BY k.position) AS columns
      FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
      WHERE i.indisprimary AND c.relname IN ('commitments', 'series', 'commitment_requests')
      ORDER BY 1`);
    expect(rows).toEqual([
      { table: "commitment_requests", columns: ["pair_id", "id"] },
      { table: "commitments", columns: ["pair_id", "id"] },
      { table: "series", columns: ["pair_id", "id"] },
    ]);
    const linked = await client.query(`
      SELECT c.id FROM commitments c JOIN series s ON s.pair_id = c.pair_id AND s.id = c.series_id`);
    expect(linked.rows).toEqual([{ id: "00000000-0000-7000-8000-0000000000d1" }]);
    const invite = await client.query("SELECT pair_id FROM invites");
    expect(invite.rows).toEqual([{ pair_id: "00000000-0000-7000-8000-0000000000a1" }]);
  });
});
