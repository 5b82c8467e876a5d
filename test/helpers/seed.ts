import { randomBytes } from "node:crypto";
import { cp, mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";
import { migrationsFolder } from "../../src/db/migrate.js";
import { grantServiceRole } from "../../src/db/roles.js";
import { uuidv7 } from "../../src/ids.js";
import type { TestApp } from "./app.js";
import { ownerUrl, serviceRole } from "./database.js";
import { fastHasher } from "./fast-hasher.js";
import type { SignedInUser } from "./users.js";

/**
 * Rows written straight into an older schema (a migration test's "before"),
 * with only the columns every migration since 0008 has had: the API of
 * today may need columns that schema does not have yet.
 */

/**
 * Applies the migrations before `tag` only, from a copy of the folder with a
 * shortened journal; answers the copy's folder (the caller removes it).
 */
export async function migrateBefore(url: string, tag: string): Promise<string> {
  const folder = await mkdtemp(path.join(os.tmpdir(), "kept-migrations-"));
  await cp(migrationsFolder, folder, { recursive: true });
  const journalPath = path.join(folder, "meta/_journal.json");
  const journal = JSON.parse(await readFile(journalPath, "utf8")) as { entries: { tag: string }[] };
  const at = journal.entries.findIndex((entry) => entry.tag === tag);
  if (at <= 0) throw new Error(`no migration ${tag} after the first`);
  await writeFile(journalPath, JSON.stringify({ ...journal, entries: journal.entries.slice(0, at) }));
  // As the owner, granting the service role, as the service's own migrations do.
  const client = new pg.Client({ connectionString: ownerUrl(url) });
  await client.connect();
  try {
    await migrate(drizzle(client), { migrationsFolder: folder });
    await grantServiceRole(client, serviceRole());
  } finally {
    await client.end();
  }
  return folder;
}

export type SeededUser = { id: string; email: string; password: string };

export async function seedUser(
  client: pg.ClientBase,
  at: Date,
  user: { displayName: string; timeZone?: string },
): Promise<SeededUser> {
  const id = uuidv7(at);
  const email = `seeded-${randomBytes(4).toString("hex")}@example.com`;
  const password = "correct horse battery";
  await client.query(
    `INSERT INTO users (id, email, display_name, time_zone, password_hash, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $6)`,
    [id, email, user.displayName, user.timeZone ?? "Europe/Paris", await fastHasher.hash(password), at],
  );
  return { id, email, password };
}

/** A pair of `memberIds` (joined at `at`), with its chain started; ended at `endedAt` by the first member if given. */
export async function seedPair(client: pg.ClientBase, at: Date, memberIds: string[], endedAt?: Date): Promise<string> {
  const id = uuidv7(at);
  await client.query(
    "INSERT INTO pairs (id, status, created_at, ended_at, ended_by, end_reason) VALUES ($1, $2, $3, $4, $5, $6)",
    [id, endedAt ? "ended" : "active", at, endedAt ?? null, endedAt ? memberIds[0] : null, endedAt ? "left" : null],
  );
  // From migration 0012 on, an active membership needs its person's row in active_pair_members.
  const { rows } = await client.query<{ exists: boolean }>(
    "SELECT to_regclass('active_pair_members') IS NOT NULL AS exists",
  );
  for (const userId of memberIds) {
    if (!endedAt && rows[0]?.exists) {
      await client.query("INSERT INTO active_pair_members (user_id, pair_id) VALUES ($1, $2)", [userId, id]);
    }
    await client.query("INSERT INTO pair_members (pair_id, user_id, joined_at, active) VALUES ($1, $2, $3, $4)", [
      id,
      userId,
      at,
      !endedAt,
    ]);
  }
  await client.query("INSERT INTO event_heads (pair_id, last_seq, head_hash) VALUES ($1, 0, $2)", [id, "0".repeat(64)]);
  return id;
}

/** A commitment row as the service would have left it; unset columns are null (or their defaults). */
export async function seedCommitment(
  client: pg.ClientBase,
  row: {
    pairId: string;
    ownerId: string;
    createdAt: Date;
    dueAt: Date;
    status: string;
    title?: string;
    category?: string;
    graceMinutes?: number;
  } & Partial<{
    details: string;
    outcome: "kept" | "missed";
    reportNote: string;
    reportedAt: Date;
    reportTiming: "early" | "onTime" | "late";
    confirmationState: "pending" | "confirmed" | "disputed";
    confirmationNote: string;
    confirmationAt: Date;
    confirmationDueAt: Date;
    lapsedAt: Date;
  }>,
): Promise<string> {
  const id = uuidv7(row.createdAt);
  const grace = row.graceMinutes ?? 0;
  await client.query(
    `INSERT INTO commitments (id, pair_id, owner_id, title, details, category, due_at, grace_minutes, lapses_at, status,
       outcome, report_note, reported_at, report_timing, confirmation_state, confirmation_auto, confirmation_note,
       confirmation_at, confirmation_due_at, lapsed_at, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $21)`,
    [
      id,
      row.pairId,
      row.ownerId,
      row.title ?? "Seeded",
      row.details ?? null,
      row.category ?? "other",
      row.dueAt,
      grace,
      new Date(row.dueAt.getTime() + grace * 60_000),
      row.status,
      row.outcome ?? null,
      row.reportNote ?? null,
      row.reportedAt ?? null,
      row.reportTiming ?? null,
      row.confirmationState ?? null,
      row.confirmationState ? false : null,
      row.confirmationNote ?? null,
      row.confirmationAt ?? null,
      row.confirmationDueAt ?? null,
      row.lapsedAt ?? null,
      row.createdAt,
    ],
  );
  return id;
}

/** Signs a seeded user in through the API. */
export async function signIn(t: Pick<TestApp, "http">, user: SeededUser): Promise<SignedInUser> {
  const response = await t.http.post("/v1/auth/login").send({ email: user.email, password: user.password }).expect(200);
  return {
    ...user,
    accessToken: response.body.accessToken,
    refreshToken: response.body.refreshToken,
    auth: { Authorization: `Bearer ${response.body.accessToken}` },
  };
}
