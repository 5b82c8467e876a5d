import { rm } from "node:fs/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateWithLock } from "../../src/db/migrate.js";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { HOUR } from "../helpers/clock.js";
import { step } from "../helpers/commitments.js";
import { createEmptyDatabase, ownerUrl, serviceRole } from "../helpers/database.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { migrateBefore, seedCommitment, seedPair, seedUser, signIn } from "../helpers/seed.js";

/**
 * Migration 0013 arrives with history already there: the words still on
 * each commitment go on record (without a hash: no event carried one), and
 * the members of pairs already ended are frozen as they are.
 */

let folder: string;
let databaseUrl: string;
let t: TestApp;
beforeAll(async () => {
  databaseUrl = await createEmptyDatabase();
  folder = await migrateBefore(databaseUrl, "0013_words_and_zones");
});
afterAll(async () => {
  await t?.close();
  await rm(folder, { recursive: true, force: true });
});

describe("migration 0013 (words on record, zones frozen at the end)", () => {
  it("puts the words already written on record and freezes the members of ended pairs", async () => {
    const now = new Date("2026-03-02T09:00:00.000Z");
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    const seeded = await (async () => {
      try {
        const ana = await seedUser(client, now, { displayName: "Ana", timeZone: "Asia/Tokyo" });
        const ben = await seedUser(client, now, { displayName: "Ben" });
        const dan = await seedUser(client, now, { displayName: "Dan" });
        // Dan's pair with Ana ended, then Dan deleted his account (his words were blanked then).
        const ended = await seedPair(client, now, [ana.id, dan.id], new Date(now.getTime() + HOUR));
        const dans = await seedCommitment(client, {
          pairId: ended,
          ownerId: dan.id,
          createdAt: now,
          dueAt: new Date(now.getTime() + 2 * HOUR),
          status: "withdrawn",
          title: "",
        });
        await client.query("UPDATE users SET display_name = NULL, email = NULL, deleted_at = $2 WHERE id = $1", [
          dan.id,
          now,
        ]);
        // Ana's commitment with Ben: reported, disputed, revised and disputed again (two reports on the log).
        const pairId = await seedPair(client, now, [ana.id, ben.id]);
        const id = await seedCommitment(client, {
          pairId,
          ownerId: ana.id,
          createdAt: now,
          dueAt: new Date(now.getTime() + 48 * HOUR),
          status: "disputed",
          title: "Home at 7",
          details: "Call first",
          outcome: "kept",
          reportNote: "Home 18:55",
          reportedAt: now,
          reportTiming: "early",
          confirmationState: "disputed",
          confirmationNote: "You came home at 23:40",
          confirmationAt: now,
        });
        for (const seq of [1, 2]) {
          await client.query(
            `INSERT INTO events (pair_id, seq, type, actor_id, subject_type, subject_id, payload, occurred_at, prev_hash, hash)
             VALUES ($1, $2, 'commitment.reported', $3, 'commitment', $4, '{}', $5, $6, $6)`,
            [pairId, seq, ana.id, id, now, "0".repeat(64)],
          );
        }
        await client.query("UPDATE event_heads SET last_seq = 2 WHERE pair_id = $1", [pairId]);
        return { ana, ben, dan, ended, dans, pairId, id };
      } finally {
        await client.end();
      }
    })();
    const pool = new pg.Pool({ connectionString: ownerUrl(databaseUrl), max: 1 });
    try {
      await migrateWithLock(pool, { serviceRole: serviceRole() });
    } finally {
      await pool.end();
    }
    t = await buildTestApp({ databaseUrl, passwordHasher: fastHasher });
    t.clock.set(now);
    const ana = await signIn(t, seeded.ana);
    const ben = await signIn(t, seeded.ben);

    const textsOf = async (pairId: string, id: string) =>
      (await t.http.get(`/v1/pairs/${pairId}/commitments/${id}/texts`).set(ana.auth).expect(200)).body.data;
    expect(await textsOf(seeded.pairId, seeded.id)).toMatchObject([
      { n: 1, field: "title", text: "Home at 7", hash: null, salt: null, authorId: ana.id, reportNumber: null },
      { n: 2, field: "details", text: "Call first", hash: null, authorId: ana.id },
      { n: 3, field: "reportNote", text: "Home 18:55", authorId: ana.id, reportNumber: 2, outcome: "kept" },
      { n: 4, field: "disputeNote", text: "You came home at 23:40", authorId: ben.id, reportNumber: 2 },
    ]);
    expect(await textsOf(seeded.ended, seeded.dans)).toMatchObject([
      { field: "title", text: null, erased: true, hash: null },
    ]);
    // The record goes on from there: the next report is the third, hashed.
    await step(t, seeded.pairId, ana, seeded.id, "report", { outcome: "missed", note: "Sorry" }).expect(200);
    expect((await textsOf(seeded.pairId, seeded.id)).at(-1)).toMatchObject({
      n: 5,
      field: "reportNote",
      text: "Sorry",
      reportNumber: 3,
      hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });

    // The ended pair shows its members as they were at the migration, whatever happens next.
    await t.http.patch("/v1/me").set(ana.auth).send({ displayName: "Ana B", shareTimeZone: true }).expect(200);
    const pair = await t.http.get(`/v1/pairs/${seeded.ended}`).set(ana.auth).expect(200);
    const members = new Map(
      pair.body.members.map((m: { userId: string; displayName: string; timeZone: string | null }) => [m.userId, m]),
    );
    expect(members.get(ana.id)).toMatchObject({ displayName: "Ana", timeZone: null });
    expect(members.get(seeded.dan.id)).toMatchObject({ displayName: "former member", timeZone: null });
  });
});
