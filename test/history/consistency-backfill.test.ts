import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateWithLock, migrationsFolder } from "../../src/db/migrate.js";
import { grantServiceRole } from "../../src/db/roles.js";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { HOUR, MINUTE } from "../helpers/clock.js";
import { createCommitment, figures, memberOf, step } from "../helpers/commitments.js";
import { createEmptyDatabase, ownerUrl, serviceRole } from "../helpers/database.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { linkPair } from "../helpers/pairs.js";
import { advanceClock, registerUser } from "../helpers/users.js";

/**
 * The read model of the figures of all time arrives with history already
 * in the database: its migration fills it from the rows there. Here a pair
 * builds a history on the schema just before the triggers (through the
 * API), then the remaining migrations run, and `all` answers the same
 * figures as a window spanning the whole history.
 */

const FIRST_WITH_TRIGGERS = "0009_consistency_totals_maintenance";

let t: TestApp;
let databaseUrl: string;
let folder: string;

/** Applies the migrations before `tag` only (as the owner, granting the service role), from a copy of the folder with a shortened journal. */
async function migrateUpTo(url: string, tag: string): Promise<void> {
  folder = await mkdtemp(path.join(os.tmpdir(), "kept-migrations-"));
  await cp(migrationsFolder, folder, { recursive: true });
  const journalPath = path.join(folder, "meta/_journal.json");
  const journal = JSON.parse(await readFile(journalPath, "utf8")) as { entries: { tag: string }[] };
  const at = journal.entries.findIndex((entry) => entry.tag === tag);
  expect(at).toBeGreaterThan(0);
  await writeFile(journalPath, JSON.stringify({ ...journal, entries: journal.entries.slice(0, at) }));
  const client = new pg.Client({ connectionString: ownerUrl(url) });
  await client.connect();
  try {
    await migrate(drizzle(client), { migrationsFolder: folder });
    await grantServiceRole(client, serviceRole());
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  databaseUrl = await createEmptyDatabase();
  await migrateUpTo(databaseUrl, FIRST_WITH_TRIGGERS);
  t = await buildTestApp({ databaseUrl, passwordHasher: fastHasher });
});
afterAll(async () => {
  await t.close();
  await rm(folder, { recursive: true, force: true });
});

describe("the figures' read model migration", () => {
  it("fills the read model from the commitments already there", async () => {
    const alex = await registerUser(t, { displayName: "Alex" });
    const blake = await registerUser(t, { displayName: "Blake" });
    const { pairId } = await linkPair(t, alex, blake);
    const inHours = (hours: number) => new Date(t.clock.now().getTime() + hours * HOUR).toISOString();
    // Alex: kept, kept, missed, kept (care), a lapse, one awaiting, one open; Blake: one kept.
    const plan: [number, string, "kept" | "missed" | "lapse" | "awaiting" | "open"][] = [
      [1, "time", "kept"],
      [2, "time", "kept"],
      [3, "time", "missed"],
      [4, "care", "kept"],
      [5, "time", "lapse"],
      [6, "time", "awaiting"],
      [48, "care", "open"],
    ];
    for (const [hours, category, fate] of plan) {
      const c = await createCommitment(t, pairId, alex, { category, dueAt: inHours(hours), graceMinutes: 0 });
      if (fate === "lapse" || fate === "open") continue;
      await step(t, pairId, alex, c.id, "report", { outcome: fate === "missed" ? "missed" : "kept" }).expect(200);
      if (fate !== "awaiting") await step(t, pairId, blake, c.id, "confirm").expect(200);
    }
    const blakes = await createCommitment(t, pairId, blake, { dueAt: inHours(1) });
    await step(t, pairId, blake, blakes.id, "report", { outcome: "kept" }).expect(200);
    await step(t, pairId, alex, blakes.id, "confirm").expect(200);
    await advanceClock(t, 5 * HOUR + MINUTE, alex, blake);
    await t.app.sweeper.runOnce();

    const pool = new pg.Pool({ connectionString: ownerUrl(databaseUrl), max: 1 });
    try {
      await migrateWithLock(pool, { serviceRole: serviceRole() });
    } finally {
      await pool.end();
    }

    const all = await figures(t, pairId, blake, "all");
    expect(all.members).toEqual((await figures(t, pairId, blake, "90d")).members);
    // Walk: k k b k b (the awaiting and open ones skipped).
    const figuresOfAlex = memberOf(all, alex.id);
    expect(figuresOfAlex).toMatchObject({
      kept: 3,
      missed: 1,
      lapsed: 1,
      awaitingConfirmation: 1,
      open: 1,
      currentStreak: 0,
      longestStreak: 2,
    });
    expect(figuresOfAlex.byCategory.care).toMatchObject({ kept: 1, open: 1, currentStreak: 1, longestStreak: 1 });
    expect(memberOf(all, blake.id)).toMatchObject({ kept: 1, currentStreak: 1, longestStreak: 1 });
  });
});
