import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { HOUR, MINUTE } from "../helpers/clock.js";
import { createCommitment, figures, type MemberFigures, memberOf, step } from "../helpers/commitments.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { type LinkedPair, linkPair } from "../helpers/pairs.js";
import { advanceClock, registerUser, type SignedInUser } from "../helpers/users.js";

/**
 * `window=all` is answered from a read model that triggers on the
 * commitments keep in step with every change. These are the changes that
 * move it out of order: settling out of due order, a settled commitment
 * changing class, leaving, account deletion, and raw SQL touching several
 * rows at once. Every history here fits in 90 days, so `all` must equal
 * `90d` (counted straight from the commitments) at each step, and the
 * hand-computed figures.
 */

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ passwordHasher: fastHasher });
});
afterAll(() => t.close());

type Pair = LinkedPair & { alex: SignedInUser; blake: SignedInUser };

async function newPair(): Promise<Pair> {
  const alex = await registerUser(t, { displayName: "Alex" });
  const blake = await registerUser(t, { displayName: "Blake" });
  return { ...(await linkPair(t, alex, blake)), alex, blake };
}

const inHours = (hours: number) => new Date(t.clock.now().getTime() + hours * HOUR).toISOString();

/** Alex's figures of all time (as Blake sees them), after checking they equal the 90-day window's. */
async function allTime(p: Pair, as: SignedInUser = p.blake): Promise<MemberFigures> {
  const all = await figures(t, p.pairId, as, "all");
  expect(all.members).toEqual((await figures(t, p.pairId, as, "90d")).members);
  return memberOf(all, p.alex.id);
}

/** Alex reports, Blake answers. */
const report = (p: Pair, id: string, outcome: "kept" | "missed") =>
  step(t, p.pairId, p.alex, id, "report", { outcome }).expect(200);
const confirm = (p: Pair, id: string) => step(t, p.pairId, p.blake, id, "confirm").expect(200);
const dispute = (p: Pair, id: string) => step(t, p.pairId, p.blake, id, "dispute", { note: "Not so" }).expect(200);

describe("figures of all time, kept by the read model", () => {
  it("follow commitments settling out of due order: a lapse before a run, a miss inside it, a late kept joining two runs", async () => {
    const p = await newPair();
    // c1 … c6 due at +1 h … +6 h; categories interleaved so each category's walk differs from the whole.
    const categories = ["time", "care", "time", "time", "care", "time"];
    const c = [];
    for (const [i, category] of categories.entries()) {
      c.push(await createCommitment(t, p.pairId, p.alex, { category, dueAt: inHours(i + 1), graceMinutes: 0 }));
    }
    const [c1, c2, c3, c4, c5, c6] = c.map((x) => x.id) as [string, string, string, string, string, string];
    // The later ones settle first (reported early, confirmed); c4's report is disputed.
    for (const id of [c6, c5, c3, c2]) {
      await report(p, id, "kept");
      await confirm(p, id);
    }
    await report(p, c4, "kept");
    await dispute(p, c4);
    // Walk: c2 c3 c5 c6 kept.
    expect(await allTime(p)).toMatchObject({ kept: 4, disputed: 1, open: 1, currentStreak: 4, longestStreak: 4 });

    // c1 lapses: a break before the whole run.
    await advanceClock(t, HOUR + MINUTE, p.alex, p.blake);
    await t.app.sweeper.runOnce();
    expect(await allTime(p)).toMatchObject({ kept: 4, lapsed: 1, open: 0, currentStreak: 4, longestStreak: 4 });

    // c4 revised to missed and confirmed: a break in the middle of the run (c2 c3 | c5 c6).
    await report(p, c4, "missed");
    await confirm(p, c4);
    expect(await allTime(p)).toMatchObject({ kept: 4, missed: 1, lapsed: 1, currentStreak: 2, longestStreak: 2 });

    // c1 reported kept late: still a lapse while it awaits an answer, then kept (timed late).
    await report(p, c1, "kept");
    expect(await allTime(p)).toMatchObject({ lapsed: 1, awaitingConfirmation: 0, currentStreak: 2, longestStreak: 2 });
    await confirm(p, c1);
    const alex = await allTime(p);
    // Walk: c1 c2 c3 kept, c4 missed, c5 c6 kept.
    expect(alex).toMatchObject({
      kept: 5,
      missed: 1,
      lapsed: 0,
      keptRate: 5 / 6,
      onTimeReportRate: 5 / 6,
      currentStreak: 2,
      longestStreak: 3,
    });
    // time: c1 c3 kept, c4 missed, c6 kept; care: c2 c5 kept.
    expect(alex.byCategory.time).toMatchObject({ kept: 3, missed: 1, currentStreak: 1, longestStreak: 2 });
    expect(alex.byCategory.care).toMatchObject({ kept: 2, currentStreak: 2, longestStreak: 2 });
  });

  it("follow a settled commitment changing class in place: a lapse settled as missed, a lapse settled as kept at the end", async () => {
    const p = await newPair();
    const first = await createCommitment(t, p.pairId, p.alex, { dueAt: inHours(1), graceMinutes: 0 });
    const second = await createCommitment(t, p.pairId, p.alex, { dueAt: inHours(2), graceMinutes: 0 });
    const third = await createCommitment(t, p.pairId, p.alex, { dueAt: inHours(3), graceMinutes: 0 });
    await report(p, first.id, "kept");
    await confirm(p, first.id);
    await advanceClock(t, 3 * HOUR + MINUTE, p.alex, p.blake);
    await t.app.sweeper.runOnce();
    expect(await allTime(p)).toMatchObject({ kept: 1, lapsed: 2, currentStreak: 0, longestStreak: 1 });

    // A late miss, disputed, then confirmed: lapsed → missed, the same break in the walk.
    await report(p, second.id, "missed");
    await dispute(p, second.id);
    expect(await allTime(p)).toMatchObject({ lapsed: 2, missed: 0, disputed: 0 });
    await confirm(p, second.id);
    expect(await allTime(p)).toMatchObject({ kept: 1, missed: 1, lapsed: 1, currentStreak: 0, longestStreak: 1 });

    // The last break turns kept: a trailing run again.
    await report(p, third.id, "kept");
    await confirm(p, third.id);
    expect(await allTime(p)).toMatchObject({
      kept: 2,
      missed: 1,
      lapsed: 0,
      onTimeReportRate: 1 / 3,
      currentStreak: 1,
      longestStreak: 1,
    });
  });

  it("follow leaving and account deletion: open ones withdrawn, reports awaiting left as they are, the rest unchanged", async () => {
    const p = await newPair();
    const kept = await createCommitment(t, p.pairId, p.alex, { category: "care", dueAt: inHours(1) });
    const missed = await createCommitment(t, p.pairId, p.alex, { dueAt: inHours(2) });
    const awaiting = await createCommitment(t, p.pairId, p.alex, { dueAt: inHours(3) });
    await createCommitment(t, p.pairId, p.alex, { category: "care", dueAt: inHours(4) });
    await createCommitment(t, p.pairId, p.blake, { dueAt: inHours(4) });
    await report(p, kept.id, "kept");
    await confirm(p, kept.id);
    await report(p, missed.id, "missed");
    await confirm(p, missed.id);
    await step(t, p.pairId, p.alex, missed.id, "acknowledgement", { text: "I am sorry" }).expect(200);
    await report(p, awaiting.id, "kept");
    const before = await allTime(p);
    expect(before).toMatchObject({ kept: 1, missed: 1, awaitingConfirmation: 1, open: 1, acknowledgedMisses: 1 });

    // Deleting Alex's account leaves the pair (open ones withdrawn) and blanks Alex's words in every row.
    await t.http.delete("/v1/me").set(p.alex.auth).send({ password: p.alex.password }).expect(204);
    const after = await allTime(p);
    expect(after).toEqual({
      ...before,
      open: 0,
      withdrawn: 1,
      byCategory: {
        ...before.byCategory,
        care: { ...before.byCategory.care, open: 0, withdrawn: 1 },
      },
    });
    const blake = memberOf(await figures(t, p.pairId, p.blake, "all"), p.blake.id);
    expect(blake).toMatchObject({ open: 0, withdrawn: 1 });
  });

  it("follow raw SQL changing several commitments in one statement, as seeding and repairs do", async () => {
    const p = await newPair();
    const sql = (text: string, params: unknown[]) => t.database.pool.query(text, params);
    // Six of Alex's, due an hour apart (in the future, so inside every window): k k b k k k once settled.
    await sql(
      `INSERT INTO commitments (id, pair_id, owner_id, title, category, due_at, grace_minutes, lapses_at, status,
         outcome, reported_at, report_timing, confirmation_state, created_at, updated_at)
       SELECT gen_random_uuid(), $1, $2, 'Seeded ' || i, 'time', due, 0, due, 'confirmed',
         CASE WHEN i = 3 THEN 'missed' ELSE 'kept' END, $3::timestamptz, 'early', 'confirmed', $3, $3
       FROM (SELECT i, $3::timestamptz + i * interval '1 hour' AS due FROM generate_series(1, 6) AS i) AS seeded`,
      [p.pairId, p.alex.id, t.clock.now().toISOString()],
    );
    expect(await allTime(p)).toMatchObject({ kept: 5, missed: 1, currentStreak: 3, longestStreak: 3 });

    // Two at once turn to misses (the 1st and the 5th): b k b k b k.
    await sql(
      `UPDATE commitments SET outcome = 'missed'
       WHERE owner_id = $1 AND title IN ('Seeded 1', 'Seeded 5')`,
      [p.alex.id],
    );
    expect(await allTime(p)).toMatchObject({ kept: 3, missed: 3, currentStreak: 1, longestStreak: 1 });

    // The 5th turns kept and moves to care, the 1st is deleted: k b k k k in all, k b k k in time.
    await sql(`UPDATE commitments SET category = 'care', outcome = 'kept' WHERE owner_id = $1 AND title = 'Seeded 5'`, [
      p.alex.id,
    ]);
    await sql(`DELETE FROM commitments WHERE owner_id = $1 AND title = 'Seeded 1'`, [p.alex.id]);
    const alex = await allTime(p);
    expect(alex).toMatchObject({ kept: 4, missed: 1, currentStreak: 3, longestStreak: 3 });
    expect(alex.byCategory.time).toMatchObject({ kept: 3, missed: 1, currentStreak: 2, longestStreak: 2 });
    expect(alex.byCategory.care).toMatchObject({ kept: 1, currentStreak: 1, longestStreak: 1 });
  });
});
