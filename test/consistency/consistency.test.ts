import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { agreeBoundary, boundaryPath, proposeBoundary } from "../helpers/boundaries.js";
import { DAY, HOUR, MINUTE } from "../helpers/clock.js";
import { createCommitment, figures, memberOf, step, trend } from "../helpers/commitments.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { type LinkedPair, linkPair } from "../helpers/pairs.js";
import { advanceClock, registerUser, type SignedInUser } from "../helpers/users.js";

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ passwordHasher: fastHasher, env: { KEPT_REFRESH_TOKEN_TTL_DAYS: "365" } });
});
afterAll(() => t.close());

type Pair = LinkedPair & { alex: SignedInUser; blake: SignedInUser };

async function newPair(zones: { alex?: string; blake?: string } = {}): Promise<Pair> {
  const alex = await registerUser(t, { displayName: "Alex", timeZone: zones.alex ?? "Europe/Paris" });
  const blake = await registerUser(t, { displayName: "Blake", timeZone: zones.blake ?? "Europe/Paris" });
  const pair = await linkPair(t, alex, blake);
  return { ...pair, alex, blake };
}

const inHours = (hours: number) => new Date(t.clock.now().getTime() + hours * HOUR).toISOString();
const move = (p: Pair, ms: number) => advanceClock(t, ms, p.alex, p.blake);
const sweep = () => t.app.sweeper.runOnce();

const zero = {
  kept: 0,
  missed: 0,
  lapsed: 0,
  withdrawn: 0,
  disputed: 0,
  awaitingConfirmation: 0,
  open: 0,
  keptRate: null,
  onTimeReportRate: null,
  currentStreak: 0,
  longestStreak: 0,
  acknowledgedMisses: 0,
  acknowledgementsAccepted: 0,
};
const categories = ["time", "communication", "honesty", "finances", "household", "social", "care", "other"];

describe("consistency figures", () => {
  it("count a commitment once settled; disputed and awaiting reports apart; the same for both partners", async () => {
    const p = await newPair();
    const make = (category: string, hours = 10) =>
      createCommitment(t, p.pairId, p.alex, { category, dueAt: inHours(hours) });
    const kept = await make("time");
    const missed = await make("time");
    const disputed = await make("care");
    const awaiting = await make("care");
    const withdrawn = await make("household");
    await make("other", 48);
    const lapsed = await make("time", 1);

    await step(t, p.pairId, p.alex, kept.id, "report", { outcome: "kept" }).expect(200);
    await step(t, p.pairId, p.blake, kept.id, "confirm").expect(200);
    await step(t, p.pairId, p.alex, missed.id, "report", { outcome: "missed" }).expect(200);
    await step(t, p.pairId, p.blake, missed.id, "confirm").expect(200);
    await step(t, p.pairId, p.alex, disputed.id, "report", { outcome: "kept" }).expect(200);
    await step(t, p.pairId, p.blake, disputed.id, "dispute", { note: "Not what I saw" }).expect(200);
    await step(t, p.pairId, p.alex, awaiting.id, "report", { outcome: "kept" }).expect(200);
    await step(t, p.pairId, p.alex, withdrawn.id, "withdraw", { reason: "Plans changed" }).expect(200);
    await move(p, HOUR + 16 * MINUTE);
    await sweep();
    expect((await t.http.get(`/v1/pairs/${p.pairId}/commitments/${lapsed.id}`).set(p.alex.auth)).body.status).toBe(
      "lapsed",
    );

    const asAlex = await figures(t, p.pairId, p.alex);
    const asBlake = await figures(t, p.pairId, p.blake);
    expect(asBlake).toEqual(asAlex);
    expect(asAlex.window).toBe("30d");
    expect(asAlex.members.map((m) => m.userId)).toEqual([p.alex.id, p.blake.id]);
    const { byCategory, ...alex } = memberOf(asAlex, p.alex.id);
    expect(alex).toEqual({
      userId: p.alex.id,
      kept: 1,
      missed: 1,
      lapsed: 1,
      withdrawn: 1,
      disputed: 1,
      awaitingConfirmation: 1,
      open: 1,
      keptRate: 1 / 3,
      // Both reports came before the due time (early); the lapse had none.
      onTimeReportRate: 2 / 3,
      currentStreak: 0,
      longestStreak: 1,
      acknowledgedMisses: 0,
      acknowledgementsAccepted: 0,
    });
    expect(Object.keys(byCategory)).toEqual(categories);
    expect(byCategory.time).toMatchObject({ kept: 1, missed: 1, lapsed: 1, keptRate: 1 / 3 });
    expect(byCategory.care).toMatchObject({ disputed: 1, awaitingConfirmation: 1, keptRate: null });
    expect(byCategory.household).toMatchObject({ withdrawn: 1 });
    expect(byCategory.other).toMatchObject({ open: 1 });
    expect(byCategory.finances).toEqual(zero);
    const { byCategory: blakeCategories, ...blake } = memberOf(asAlex, p.blake.id);
    expect(blake).toEqual({ userId: p.blake.id, ...zero });
    for (const category of categories) expect(blakeCategories[category]).toEqual(zero);
  });

  it("a late report counts as lapsed until it is settled, then by its outcome, timed late", async () => {
    const p = await newPair();
    const c = await createCommitment(t, p.pairId, p.alex, { dueAt: inHours(1), graceMinutes: 0 });
    const auto = await createCommitment(t, p.pairId, p.alex, { dueAt: inHours(1), graceMinutes: 0 });
    await move(p, HOUR + MINUTE);
    await sweep();
    const alex = async () => memberOf(await figures(t, p.pairId, p.blake), p.alex.id);
    expect(await alex()).toMatchObject({ lapsed: 2, kept: 0, keptRate: 0, currentStreak: 0 });

    await step(t, p.pairId, p.alex, c.id, "report", { outcome: "kept" }).expect(200);
    await step(t, p.pairId, p.alex, auto.id, "report", { outcome: "missed" }).expect(200);
    expect(await alex()).toMatchObject({ lapsed: 2, awaitingConfirmation: 0, kept: 0, missed: 0 });
    // A disputed late report does not undo the lapse either.
    await step(t, p.pairId, p.blake, c.id, "dispute", { note: "You did not come" }).expect(200);
    expect(await alex()).toMatchObject({ lapsed: 2, disputed: 0 });
    await step(t, p.pairId, p.alex, c.id, "report", { outcome: "kept", note: "I did, at 21:00" }).expect(200);
    await step(t, p.pairId, p.blake, c.id, "confirm").expect(200);
    expect(await alex()).toMatchObject({ kept: 1, lapsed: 1, keptRate: 1 / 2, onTimeReportRate: 0 });
    // The other late report is confirmed by the sweep after the window.
    await move(p, 72 * HOUR);
    await sweep();
    expect(await alex()).toMatchObject({
      kept: 1,
      missed: 1,
      lapsed: 0,
      keptRate: 1 / 2,
      onTimeReportRate: 0,
      currentStreak: 0,
      longestStreak: 1,
    });
  });

  it("windows select commitments by dueAt ≥ now − N×24 h, future ones included; `all` selects every one", async () => {
    const p = await newPair();
    const old = await createCommitment(t, p.pairId, p.alex, { dueAt: inHours(1) });
    await step(t, p.pairId, p.alex, old.id, "report", { outcome: "kept" }).expect(200);
    await step(t, p.pairId, p.blake, old.id, "confirm").expect(200);
    // Exactly seven days after its due time it is still in the 7-day window…
    t.clock.set(new Date(Date.parse(old.dueAt) + 7 * DAY));
    await move(p, 0);
    const future = await createCommitment(t, p.pairId, p.alex, { dueAt: inHours(24 * 20) });
    await step(t, p.pairId, p.alex, future.id, "report", { outcome: "missed" }).expect(200);
    await step(t, p.pairId, p.blake, future.id, "confirm").expect(200);
    const week = await figures(t, p.pairId, p.alex, "7d");
    expect(week.from).toBe(old.dueAt);
    expect(memberOf(week, p.alex.id)).toMatchObject({ kept: 1, missed: 1 });
    // …and one millisecond later it is not.
    await move(p, 1);
    expect(memberOf(await figures(t, p.pairId, p.alex, "7d"), p.alex.id)).toMatchObject({ kept: 0, missed: 1 });
    expect(memberOf(await figures(t, p.pairId, p.alex, "30d"), p.alex.id)).toMatchObject({ kept: 1, missed: 1 });
    await move(p, 30 * DAY);
    expect(memberOf(await figures(t, p.pairId, p.alex, "30d"), p.alex.id)).toMatchObject({ kept: 0, missed: 1 });
    expect(memberOf(await figures(t, p.pairId, p.alex, "90d"), p.alex.id)).toMatchObject({ kept: 1, missed: 1 });
    await move(p, 90 * DAY);
    expect(memberOf(await figures(t, p.pairId, p.alex, "90d"), p.alex.id)).toMatchObject({ kept: 0, missed: 0 });
    const all = await figures(t, p.pairId, p.alex, "all");
    expect(all.from).toBeNull();
    expect(memberOf(all, p.alex.id)).toMatchObject({ kept: 1, missed: 1 });
  });

  it("streaks walk settled commitments by due time: kept extends, a miss or lapse breaks, the rest is skipped", async () => {
    const p = await newPair();
    // Made out of order on purpose: the walk follows dueAt, not creation.
    const plan: [number, string, "kept" | "missed" | "withdraw" | "awaiting"][] = [
      [8, "time", "kept"],
      [3, "time", "withdraw"],
      [1, "time", "kept"],
      [5, "time", "missed"],
      [2, "time", "kept"],
      [7, "care", "awaiting"],
      [4, "time", "kept"],
      [6, "care", "kept"],
    ];
    for (const [hours, category, outcome] of plan) {
      const c = await createCommitment(t, p.pairId, p.alex, { category, dueAt: inHours(hours) });
      if (outcome === "withdraw") {
        await step(t, p.pairId, p.alex, c.id, "withdraw", { reason: "Not needed" }).expect(200);
        continue;
      }
      await step(t, p.pairId, p.alex, c.id, "report", { outcome: outcome === "missed" ? "missed" : "kept" }).expect(
        200,
      );
      if (outcome !== "awaiting") await step(t, p.pairId, p.blake, c.id, "confirm").expect(200);
    }
    // Settled, by due time: k(1) k(2) k(4) b(5) k(6) k(8): longest 3, trailing 2.
    const alex = memberOf(await figures(t, p.pairId, p.alex), p.alex.id);
    expect(alex).toMatchObject({ kept: 5, missed: 1, currentStreak: 2, longestStreak: 3, keptRate: 5 / 6 });
    // Per category: time k k k b k; care k (the awaiting one is skipped).
    expect(alex.byCategory.time).toMatchObject({ currentStreak: 1, longestStreak: 3 });
    expect(alex.byCategory.care).toMatchObject({ currentStreak: 1, longestStreak: 1, awaitingConfirmation: 1 });
  });

  it("count acknowledged misses and accepted acknowledgements", async () => {
    const p = await newPair();
    const first = await createCommitment(t, p.pairId, p.blake, { dueAt: inHours(2) });
    const second = await createCommitment(t, p.pairId, p.blake, { dueAt: inHours(2) });
    for (const c of [first, second]) {
      await step(t, p.pairId, p.blake, c.id, "report", { outcome: "missed" }).expect(200);
      await step(t, p.pairId, p.alex, c.id, "confirm").expect(200);
      await step(t, p.pairId, p.blake, c.id, "acknowledgement", { text: "I should have called." }).expect(200);
    }
    await step(t, p.pairId, p.alex, first.id, "acknowledgement/accept").expect(200);
    expect(memberOf(await figures(t, p.pairId, p.alex), p.blake.id)).toMatchObject({
      missed: 2,
      acknowledgedMisses: 2,
      acknowledgementsAccepted: 1,
    });
  });

  it("boundary figures: agreed now, revisions accepted and consent withdrawn in the window", async () => {
    const p = await newPair();
    await agreeBoundary(t, p.pairId, p.alex, p.blake);
    const revised = await agreeBoundary(t, p.pairId, p.blake, p.alex, { title: "Screens off at dinner" });
    await t.http
      .post(boundaryPath(p.pairId, revised.id, "/revisions"))
      .set(p.alex.auth)
      .send({ text: "Screens off at every meal." })
      .expect(201);
    await t.http
      .post(boundaryPath(p.pairId, revised.id, "/revisions/2/accept"))
      .set(p.blake.auth)
      .expect(200);
    const withdrawn = await agreeBoundary(t, p.pairId, p.alex, p.blake, { title: "Weekly budget talk" });
    await t.http
      .post(boundaryPath(p.pairId, withdrawn.id, "/withdraw"))
      .set(p.blake.auth)
      .send({ reason: "Not now" })
      .expect(200);
    await proposeBoundary(t, p.pairId, p.alex, { title: "Only proposed" });
    expect((await figures(t, p.pairId, p.blake)).boundaries).toEqual({ agreed: 2, revisions: 1, withdrawn: 1 });
    await move(p, 8 * DAY);
    expect((await figures(t, p.pairId, p.blake, "7d")).boundaries).toEqual({ agreed: 2, revisions: 0, withdrawn: 0 });
    expect((await figures(t, p.pairId, p.blake, "30d")).boundaries).toEqual({ agreed: 2, revisions: 1, withdrawn: 1 });
  });

  it("stay readable after the pair ended: open ones withdrawn, unconfirmed reports left out of the rates", async () => {
    const p = await newPair();
    await createCommitment(t, p.pairId, p.alex, { dueAt: inHours(5) });
    const reported = await createCommitment(t, p.pairId, p.alex, { dueAt: inHours(5) });
    await step(t, p.pairId, p.alex, reported.id, "report", { outcome: "kept" }).expect(200);
    await t.http.post(`/v1/pairs/${p.pairId}/leave`).set(p.blake.auth).expect(200);
    await move(p, 5 * DAY);
    await sweep();
    const after = await figures(t, p.pairId, p.alex);
    expect(after).toEqual(await figures(t, p.pairId, p.blake));
    expect(memberOf(after, p.alex.id)).toMatchObject({
      withdrawn: 1,
      awaitingConfirmation: 1,
      open: 0,
      keptRate: null,
    });
  });

  it("refuse unknown parameters and unknown windows", async () => {
    const p = await newPair();
    for (const query of ["window=1y", "window=", "windows=7d", "window=7d&owner=me"]) {
      const response = await t.http.get(`/v1/pairs/${p.pairId}/consistency?${query}`).set(p.alex.auth).expect(400);
      expect(response.body.code).toBe("VALIDATION_FAILED");
    }
  });
});

describe("the weekly trend", () => {
  it("has one point per week from Monday in each member's zone, empty weeks included, the current week last", async () => {
    // Monday 2 March 2026, 09:00 UTC: 22:00 on Monday in Auckland (UTC+13), 01:00 in Los Angeles (UTC−8).
    t.clock.set("2026-03-02T09:00:00.000Z");
    const p = await newPair({ alex: "Pacific/Auckland", blake: "America/Los_Angeles" });
    // Sunday 8 March 12:00 UTC is already Monday 9 March 01:00 in Auckland.
    const alexMonday = await createCommitment(t, p.pairId, p.alex, { dueAt: "2026-03-08T12:00:00.000Z" });
    // Monday 9 March 06:00 UTC is still Sunday 8 March 23:00 in Los Angeles (PDT since that morning).
    const blakeSunday = await createCommitment(t, p.pairId, p.blake, { dueAt: "2026-03-09T06:00:00.000Z" });
    const blakeMissed = await createCommitment(t, p.pairId, p.blake, { dueAt: "2026-03-03T18:00:00.000Z" });
    await step(t, p.pairId, p.alex, alexMonday.id, "report", { outcome: "kept" }).expect(200);
    await step(t, p.pairId, p.blake, alexMonday.id, "confirm").expect(200);
    await step(t, p.pairId, p.blake, blakeSunday.id, "report", { outcome: "kept" }).expect(200);
    await step(t, p.pairId, p.alex, blakeSunday.id, "confirm").expect(200);
    await step(t, p.pairId, p.blake, blakeMissed.id, "report", { outcome: "missed" }).expect(200);
    await step(t, p.pairId, p.alex, blakeMissed.id, "confirm").expect(200);
    // Tuesday 10 March, 12:00 UTC.
    t.clock.set("2026-03-10T12:00:00.000Z");
    await move(p, 0);
    const body = await trend(t, p.pairId, p.blake, 3);
    expect(body).toEqual(await trend(t, p.pairId, p.alex, 3));
    expect(body).toMatchObject({ bucket: "week", weeks: 3 });
    const empty = { kept: 0, missed: 0, lapsed: 0, keptRate: null };
    expect(body.members).toEqual([
      {
        userId: p.alex.id,
        points: [
          { weekStart: "2026-02-23", ...empty },
          { weekStart: "2026-03-02", ...empty },
          { weekStart: "2026-03-09", kept: 1, missed: 0, lapsed: 0, keptRate: 1 },
        ],
      },
      {
        userId: p.blake.id,
        points: [
          { weekStart: "2026-02-23", ...empty },
          { weekStart: "2026-03-02", kept: 1, missed: 1, lapsed: 0, keptRate: 0.5 },
          { weekStart: "2026-03-09", ...empty },
        ],
      },
    ]);
    expect((await trend(t, p.pairId, p.alex)).members[0]?.points).toHaveLength(12);
    expect((await trend(t, p.pairId, p.alex, 104)).members[1]?.points[0]?.weekStart).toBe("2024-03-18");
  });

  it("refuses a bucket other than week, weeks outside 1–104 and unknown parameters", async () => {
    const p = await newPair();
    const url = `/v1/pairs/${p.pairId}/consistency/trend`;
    await t.http.get(`${url}?bucket=week&weeks=1`).set(p.alex.auth).expect(200);
    for (const query of ["bucket=day", "weeks=0", "weeks=105", "weeks=2.5", "weeks=many", "window=7d"]) {
      const response = await t.http.get(`${url}?${query}`).set(p.alex.auth).expect(400);
      expect(response.body.code).toBe("VALIDATION_FAILED");
    }
  });
});

describe("the inbox", () => {
  it("lists what awaits the caller's answer, oldest first, each with its subject and how to answer it", async () => {
    const p = await newPair();
    const at = (id: string, kind: string, rest = "") => `/v1/pairs/${p.pairId}/${kind}/${id}${rest}`;
    const proposal = await proposeBoundary(t, p.pairId, p.blake);
    await move(p, MINUTE);
    const reported = await createCommitment(t, p.pairId, p.blake, { dueAt: inHours(10) });
    await step(t, p.pairId, p.blake, reported.id, "report", { outcome: "kept" }).expect(200);
    await move(p, MINUTE);
    const rescheduled = await createCommitment(t, p.pairId, p.blake, { dueAt: inHours(10) });
    await step(t, p.pairId, p.blake, rescheduled.id, "reschedule", { dueAt: inHours(20) }).expect(200);
    await move(p, MINUTE);
    const request = await t.http
      .post(`/v1/pairs/${p.pairId}/requests`)
      .set(p.blake.auth)
      .send({ title: "Call me at lunch", dueAt: inHours(30) })
      .expect(201);
    await move(p, MINUTE);
    const agreed = await agreeBoundary(t, p.pairId, p.alex, p.blake, { title: "Quiet hours" });
    await t.http
      .post(boundaryPath(p.pairId, agreed.id, "/revisions"))
      .set(p.blake.auth)
      .send({ text: "Quiet after 22:00." })
      .expect(201);
    await move(p, MINUTE);
    const missed = await createCommitment(t, p.pairId, p.blake, { dueAt: inHours(10) });
    await step(t, p.pairId, p.blake, missed.id, "report", { outcome: "missed" }).expect(200);
    await step(t, p.pairId, p.alex, missed.id, "confirm").expect(200);
    await step(t, p.pairId, p.blake, missed.id, "acknowledgement", { text: "Sorry" }).expect(200);
    // Alex's own pending things are not in Alex's inbox.
    const own = await createCommitment(t, p.pairId, p.alex, { dueAt: inHours(10) });
    await step(t, p.pairId, p.alex, own.id, "report", { outcome: "kept" }).expect(200);

    const inbox = await t.http.get(`/v1/pairs/${p.pairId}/inbox`).set(p.alex.auth).expect(200);
    expect(inbox.body.nextCursor).toBeNull();
    expect(inbox.body.data).toEqual([
      {
        type: "boundaryProposal",
        subjectType: "boundary",
        subjectId: proposal.id,
        revision: null,
        href: at(proposal.id, "boundaries"),
        actions: [at(proposal.id, "boundaries", "/accept"), at(proposal.id, "boundaries", "/decline")],
        since: expect.any(String),
        until: null,
      },
      expect.objectContaining({
        type: "report",
        subjectId: reported.id,
        actions: [at(reported.id, "commitments", "/confirm"), at(reported.id, "commitments", "/dispute")],
        until: new Date(Date.parse(inbox.body.data[1].since) + 72 * HOUR).toISOString(),
      }),
      expect.objectContaining({ type: "reschedule", subjectId: rescheduled.id, until: rescheduled.dueAt }),
      expect.objectContaining({
        type: "request",
        subjectType: "request",
        subjectId: request.body.id,
        href: at(request.body.id, "requests"),
        until: request.body.dueAt,
      }),
      expect.objectContaining({
        type: "boundaryRevision",
        subjectId: agreed.id,
        revision: 2,
        actions: [
          at(agreed.id, "boundaries", "/revisions/2/accept"),
          at(agreed.id, "boundaries", "/revisions/2/decline"),
        ],
      }),
      expect.objectContaining({
        type: "acknowledgement",
        subjectId: missed.id,
        actions: [at(missed.id, "commitments", "/acknowledgement/accept")],
      }),
    ]);
    const since = inbox.body.data.map((item: { since: string }) => item.since);
    expect([...since].sort()).toEqual(since);

    // Blake's inbox holds what Alex asked: the report to confirm.
    const blakes = await t.http.get(`/v1/pairs/${p.pairId}/inbox`).set(p.blake.auth).expect(200);
    expect(blakes.body.data.map((i: { type: string; subjectId: string }) => [i.type, i.subjectId])).toEqual([
      ["report", own.id],
    ]);

    // Answered, or past their time, items leave the inbox (even before the sweep).
    await step(t, p.pairId, p.alex, reported.id, "confirm").expect(200);
    await step(t, p.pairId, p.alex, missed.id, "acknowledgement/accept").expect(200);
    await move(p, 10 * HOUR);
    const later = await t.http.get(`/v1/pairs/${p.pairId}/inbox`).set(p.alex.auth).expect(200);
    expect(later.body.data.map((i: { type: string }) => i.type)).toEqual([
      "boundaryProposal",
      "request",
      "boundaryRevision",
    ]);

    // An ended pair is read-only: nothing awaits anyone.
    await t.http.post(`/v1/pairs/${p.pairId}/leave`).set(p.alex.auth).expect(200);
    expect((await t.http.get(`/v1/pairs/${p.pairId}/inbox`).set(p.blake.auth).expect(200)).body.data).toEqual([]);
  });
});
