import { rm } from "node:fs/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateWithLock } from "../../src/db/migrate.js";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { HOUR } from "../helpers/clock.js";
import { figures, memberOf } from "../helpers/commitments.js";
import { createEmptyDatabase, ownerUrl, serviceRole } from "../helpers/database.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { migrateBefore, type SeededUser, seedCommitment, seedPair, seedUser, signIn } from "../helpers/seed.js";

/**
 * The read model of the figures of all time arrives with history already
 * in the database: its migration fills it from the rows there. Here a pair
 * has a history on the schema just before the triggers (rows as the API
 * left them then), then the remaining migrations run, and `all` answers the
 * same figures as a window spanning the whole history.
 */

const FIRST_WITH_TRIGGERS = "0009_consistency_totals_maintenance";

let t: TestApp;
let databaseUrl: string;
let folder: string;

beforeAll(async () => {
  databaseUrl = await createEmptyDatabase();
  folder = await migrateBefore(databaseUrl, FIRST_WITH_TRIGGERS);
  t = await buildTestApp({ databaseUrl, passwordHasher: fastHasher });
});
afterAll(async () => {
  await t.close();
  await rm(folder, { recursive: true, force: true });
});

describe("the figures' read model migration", () => {
  it("fills the read model from the commitments already there", async () => {
    // The history is written as rows of the schema before the triggers: today's API may need later columns.
    const now = t.clock.now();
    const at = (hours: number) => new Date(now.getTime() + hours * HOUR);
    const seeding = new pg.Client({ connectionString: databaseUrl });
    await seeding.connect();
    let alexId: string;
    let blake: SeededUser;
    let pairId: string;
    try {
      alexId = (await seedUser(seeding, now, { displayName: "Alex" })).id;
      blake = await seedUser(seeding, now, { displayName: "Blake" });
      pairId = await seedPair(seeding, now, [alexId, blake.id]);
      // Alex: kept, kept, missed, kept (care), a lapse, one awaiting, one open; Blake: one kept. Reported at
      // once (early) and confirmed at once, as through the API; then 5 h 1 min pass and the lapse is swept.
      const plan: [number, string, "kept" | "missed" | "lapse" | "awaiting" | "open"][] = [
        [1, "time", "kept"],
        [2, "time", "kept"],
        [3, "time", "missed"],
        [4, "care", "kept"],
        [5, "time", "lapse"],
        [6, "time", "awaiting"],
        [48, "care", "open"],
      ];
      const settled = (outcome: "kept" | "missed") => ({
        status: "confirmed",
        outcome,
        reportedAt: now,
        reportTiming: "early" as const,
        confirmationState: "confirmed" as const,
        confirmationAt: now,
      });
      const fates = {
        kept: settled("kept"),
        missed: settled("missed"),
        lapse: { status: "lapsed", lapsedAt: at(5 + 1 / 60) },
        awaiting: {
          status: "reported",
          outcome: "kept" as const,
          reportedAt: now,
          reportTiming: "early" as const,
          confirmationState: "pending" as const,
          confirmationDueAt: at(72),
        },
        open: { status: "open" },
      };
      for (const [hours, category, fate] of plan) {
        await seedCommitment(seeding, {
          pairId,
          ownerId: alexId,
          createdAt: now,
          dueAt: at(hours),
          category,
          ...fates[fate],
        });
      }
      await seedCommitment(seeding, { pairId, ownerId: blake.id, createdAt: now, dueAt: at(1), ...fates.kept });
    } finally {
      await seeding.end();
    }
    t.clock.set(at(5 + 1 / 60));

    const pool = new pg.Pool({ connectionString: ownerUrl(databaseUrl), max: 1 });
    try {
      await migrateWithLock(pool, { serviceRole: serviceRole() });
    } finally {
      await pool.end();
    }

    const blakeIn = await signIn(t, blake);
    const all = await figures(t, pairId, blakeIn, "all");
    expect(all.members).toEqual((await figures(t, pairId, blakeIn, "90d")).members);
    // Walk: k k b k b (the awaiting and open ones skipped).
    const figuresOfAlex = memberOf(all, alexId);
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
