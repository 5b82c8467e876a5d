import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { boundaryPath } from "../helpers/boundaries.js";
import { GENESIS, recomputeHash, type TimelineEvent } from "../helpers/chain.js";
import { HOUR, MINUTE } from "../helpers/clock.js";
import { createCommitment, figures, type MemberFigures, step, trend } from "../helpers/commitments.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { linkPair } from "../helpers/pairs.js";
import { advanceClock, registerUser, type SignedInUser } from "../helpers/users.js";

/**
 * Two partners over twelve weeks, on a moved clock, and the figures both of
 * them get, against a table computed by hand (below, with its reasoning).
 * Week w starts on Monday M(w): 2 March 2026 for w = 1 … 18 May for w = 12.
 * The scenario ends on Thursday 21 May 2026, 12:00 UTC.
 */

let t: TestApp;
let alex: SignedInUser;
let blake: SignedInUser;
let pairId: string;
beforeAll(async () => {
  t = await buildTestApp({ passwordHasher: fastHasher });
  t.clock.set("2026-03-02T08:00:00.000Z");
  alex = await registerUser(t, { displayName: "Alex", timeZone: "Europe/Paris" });
  blake = await registerUser(t, { displayName: "Blake", timeZone: "America/New_York" });
  ({ pairId } = await linkPair(t, alex, blake));
});
afterAll(() => t.close());

const END = new Date("2026-05-21T12:00:00.000Z");
const monday = (week: number) => new Date(Date.UTC(2026, 2, 2 + 7 * (week - 1)));
/** Day `day` (0 = Monday) of week `week`, at `hh:mm` UTC. */
const dayOf = (week: number, day: number, time = "17:00") => {
  const [h, m] = time.split(":").map(Number) as [number, number];
  return new Date(monday(week).getTime() + day * 24 * HOUR + h * HOUR + m * MINUTE);
};

type Who = "alex" | "blake";
/**
 * What happens to a commitment, relative to its due time D (grace 15 min):
 * keptEarly: reported kept at D − 1 h, confirmed at D + 2 h;
 * keptOnTime: reported kept at D + 10 min, confirmed at D + 2 h;
 * keptAuto: reported kept at D + 10 min, confirmed by the sweep 72 h later;
 * missed: reported missed at D − 1 h, confirmed at D + 2 h;
 * lapsed: never reported (the sweep lapses it);
 * lapsedThenKept: lapsed, reported kept a day late, confirmed an hour later;
 * lapsedLateReport: lapsed, reported kept on 20 May (still unconfirmed at the end);
 * disputed: reported kept at D − 1 h, disputed at D + 2 h, never resolved;
 * disputedThenMissed: disputed, revised to missed at D + 3 h, confirmed at D + 4 h;
 * withdrawn: withdrawn at D − 2 h; awaiting: reported kept at D + 10 min, unanswered;
 * open: nothing yet. `ack`: acknowledged at D + 3 h (and accepted at D + 4 h).
 */
type Fate =
  | "keptEarly"
  | "keptOnTime"
  | "keptAuto"
  | "missed"
  | "lapsed"
  | "lapsedThenKept"
  | "lapsedLateReport"
  | "disputed"
  | "disputedThenMissed"
  | "withdrawn"
  | "awaiting"
  | "open";
type Plan = { owner: Who; dueAt: Date; category: string; fate: Fate; ack?: "acknowledged" | "accepted" };

// Alex (Europe/Paris): Tuesdays and Thursdays at 17:00 UTC, plus one due
// Sunday 17 May 22:30 UTC, which is already Monday 18 May 00:30 in Paris.
const alexPlan: Plan[] = [
  { owner: "alex", dueAt: dayOf(1, 1), category: "time", fate: "keptEarly" }, // a1
  { owner: "alex", dueAt: dayOf(1, 3), category: "time", fate: "keptOnTime" }, // a2
  { owner: "alex", dueAt: dayOf(2, 1), category: "time", fate: "missed", ack: "accepted" }, // a3
  { owner: "alex", dueAt: dayOf(2, 3), category: "communication", fate: "keptEarly" }, // a4
  { owner: "alex", dueAt: dayOf(3, 1), category: "time", fate: "keptEarly" }, // a5
  { owner: "alex", dueAt: dayOf(3, 3), category: "household", fate: "withdrawn" }, // a6
  { owner: "alex", dueAt: dayOf(4, 1), category: "time", fate: "keptAuto" }, // a7
  { owner: "alex", dueAt: dayOf(4, 3), category: "time", fate: "lapsed", ack: "acknowledged" }, // a8
  { owner: "alex", dueAt: dayOf(5, 1), category: "care", fate: "keptEarly" }, // a9
  { owner: "alex", dueAt: dayOf(5, 3), category: "time", fate: "keptEarly" }, // a10
  { owner: "alex", dueAt: dayOf(6, 1), category: "time", fate: "keptOnTime" }, // a11
  { owner: "alex", dueAt: dayOf(6, 3), category: "honesty", fate: "disputed" }, // a12
  { owner: "alex", dueAt: dayOf(7, 1), category: "time", fate: "lapsedThenKept" }, // a13
  { owner: "alex", dueAt: dayOf(7, 3), category: "time", fate: "keptEarly" }, // a14
  { owner: "alex", dueAt: dayOf(8, 1), category: "time", fate: "keptEarly" }, // a15
  { owner: "alex", dueAt: dayOf(8, 3), category: "finances", fate: "missed" }, // a16
  { owner: "alex", dueAt: dayOf(9, 1), category: "time", fate: "keptEarly" }, // a17
  { owner: "alex", dueAt: dayOf(9, 3), category: "time", fate: "keptEarly" }, // a18
  { owner: "alex", dueAt: dayOf(10, 1), category: "communication", fate: "keptOnTime" }, // a19
  { owner: "alex", dueAt: dayOf(10, 3), category: "time", fate: "keptEarly" }, // a20
  { owner: "alex", dueAt: dayOf(11, 1), category: "time", fate: "keptEarly" }, // a21
  { owner: "alex", dueAt: dayOf(11, 3), category: "time", fate: "keptAuto" }, // a22
  { owner: "alex", dueAt: dayOf(11, 6, "22:30"), category: "time", fate: "keptEarly" }, // a23
  { owner: "alex", dueAt: dayOf(12, 1), category: "time", fate: "awaiting" }, // a24
  { owner: "alex", dueAt: dayOf(12, 3), category: "time", fate: "open" }, // a25
];

// Blake (America/New_York): Wednesdays at 17:00 UTC, plus one due Monday
// 18 May 02:30 UTC, which is still Sunday 17 May 22:30 in New York.
const blakePlan: Plan[] = [
  { owner: "blake", dueAt: dayOf(1, 2), category: "household", fate: "keptEarly" }, // b1
  { owner: "blake", dueAt: dayOf(2, 2), category: "household", fate: "lapsed" }, // b2
  { owner: "blake", dueAt: dayOf(3, 2), category: "household", fate: "keptOnTime" }, // b3
  { owner: "blake", dueAt: dayOf(4, 2), category: "social", fate: "keptEarly" }, // b4
  { owner: "blake", dueAt: dayOf(5, 2), category: "social", fate: "withdrawn" }, // b5
  { owner: "blake", dueAt: dayOf(6, 2), category: "household", fate: "missed", ack: "acknowledged" }, // b6
  { owner: "blake", dueAt: dayOf(7, 2), category: "household", fate: "keptEarly" }, // b7
  { owner: "blake", dueAt: dayOf(8, 2), category: "household", fate: "disputedThenMissed" }, // b8
  { owner: "blake", dueAt: dayOf(9, 2), category: "household", fate: "keptEarly" }, // b9
  { owner: "blake", dueAt: dayOf(10, 2), category: "social", fate: "lapsedLateReport" }, // b10
  { owner: "blake", dueAt: dayOf(11, 2), category: "household", fate: "keptEarly" }, // b11
  { owner: "blake", dueAt: dayOf(12, 0, "02:30"), category: "care", fate: "keptEarly" }, // b12
  { owner: "blake", dueAt: dayOf(12, 2), category: "household", fate: "keptEarly" }, // b13
];

type Action = { at: Date; run: () => Promise<unknown> };

function actionsFor(plan: Plan): Action[] {
  const owner = () => (plan.owner === "alex" ? alex : blake);
  const partner = () => (plan.owner === "alex" ? blake : alex);
  const due = plan.dueAt.getTime();
  const after = (ms: number) => new Date(due + ms);
  let id = "";
  const act = (ms: number, as: () => SignedInUser, path: string, body?: object): Action => ({
    at: after(ms),
    run: () => step(t, pairId, as(), id, path, body).expect(200),
  });
  // Each commitment is made on the Monday 09:00 UTC of its (UTC) week, or the week before for a Monday one.
  const week = Math.floor((due - monday(1).getTime()) / (7 * 24 * HOUR)) + 1;
  const madeAt = plan.dueAt.getUTCDay() === 1 ? dayOf(week - 1, 0, "09:00") : dayOf(week, 0, "09:00");
  const actions: Action[] = [
    {
      at: madeAt,
      run: async () => {
        id = (
          await createCommitment(t, pairId, owner(), {
            title: `${plan.owner} ${plan.dueAt.toISOString()}`,
            category: plan.category,
            dueAt: plan.dueAt.toISOString(),
          })
        ).id;
      },
    },
  ];
  const kept = { outcome: "kept" };
  switch (plan.fate) {
    case "keptEarly":
      actions.push(act(-HOUR, owner, "report", kept), act(2 * HOUR, partner, "confirm"));
      break;
    case "keptOnTime":
      actions.push(act(10 * MINUTE, owner, "report", kept), act(2 * HOUR, partner, "confirm"));
      break;
    case "keptAuto":
    case "awaiting":
      actions.push(act(10 * MINUTE, owner, "report", kept));
      break;
    case "missed":
      actions.push(act(-HOUR, owner, "report", { outcome: "missed" }), act(2 * HOUR, partner, "confirm"));
      break;
    case "lapsedThenKept":
      actions.push(act(24 * HOUR, owner, "report", kept), act(25 * HOUR, partner, "confirm"));
      break;
    case "lapsedLateReport":
      actions.push({
        at: new Date("2026-05-20T10:00:00.000Z"),
        run: () => step(t, pairId, owner(), id, "report", kept).expect(200),
      });
      break;
    case "disputed":
      actions.push(act(-HOUR, owner, "report", kept), act(2 * HOUR, partner, "dispute", { note: "Not so" }));
      break;
    case "disputedThenMissed":
      actions.push(
        act(-HOUR, owner, "report", kept),
        act(2 * HOUR, partner, "dispute", { note: "Not so" }),
        act(3 * HOUR, owner, "report", { outcome: "missed" }),
        act(4 * HOUR, partner, "confirm"),
      );
      break;
    case "withdrawn":
      actions.push(act(-2 * HOUR, owner, "withdraw", { reason: "Plans changed" }));
      break;
    case "lapsed":
    case "open":
      break;
  }
  if (plan.ack) actions.push(act(3 * HOUR, owner, "acknowledgement", { text: "I am sorry; next time I call." }));
  if (plan.ack === "accepted") actions.push(act(4 * HOUR, partner, "acknowledgement/accept"));
  return actions;
}

/** Boundaries: B1 agreed in week 1, revised in weeks 5 and 11; B2 agreed in week 3, withdrawn in week 9; B3 only proposed. */
function boundaryActions(): Action[] {
  const ids: Record<string, string> = {};
  const post = (as: () => SignedInUser, path: () => string, body?: object) => () =>
    t.http
      .post(path())
      .set(as().auth)
      .send(body ?? {})
      .expect((response) => expect(response.status).toBeLessThan(300));
  const propose = (key: string, as: () => SignedInUser, title: string) => async () => {
    const created = await t.http
      .post(boundaryPath(pairId))
      .set(as().auth)
      .send({ title, text: `${title}, as we agreed.`, category: "communication" })
      .expect(201);
    ids[key] = created.body.id;
  };
  const b =
    (key: string, rest = "") =>
    () =>
      boundaryPath(pairId, ids[key], rest);
  return [
    { at: dayOf(1, 0, "09:30"), run: propose("b1", () => alex, "Phones away at dinner") },
    { at: dayOf(1, 0, "10:00"), run: post(() => blake, b("b1", "/accept")) },
    { at: dayOf(3, 0, "09:30"), run: propose("b2", () => blake, "Sunday budget talk") },
    { at: dayOf(3, 0, "10:00"), run: post(() => alex, b("b2", "/accept")) },
    { at: dayOf(5, 0, "09:30"), run: post(() => alex, b("b1", "/revisions"), { text: "Phones away at every meal." }) },
    { at: dayOf(5, 0, "10:00"), run: post(() => blake, b("b1", "/revisions/2/accept")) },
    { at: dayOf(9, 0, "09:30"), run: post(() => blake, b("b2", "/withdraw"), { reason: "Not working for me" }) },
    { at: dayOf(11, 0, "09:30"), run: post(() => blake, b("b1", "/revisions"), { text: "Phones away after 19:00." }) },
    { at: dayOf(11, 0, "10:00"), run: post(() => alex, b("b1", "/revisions/3/accept")) },
    { at: dayOf(12, 0, "09:30"), run: propose("b3", () => alex, "A walk every Saturday") },
  ];
}

/** One row of the hand-computed table. */
const row = (
  kept: number,
  missed: number,
  lapsed: number,
  withdrawn: number,
  disputed: number,
  awaitingConfirmation: number,
  open: number,
  keptRate: number | null,
  onTimeReportRate: number | null,
  currentStreak: number,
  longestStreak: number,
  acknowledgedMisses = 0,
  acknowledgementsAccepted = 0,
) => ({
  kept,
  missed,
  lapsed,
  withdrawn,
  disputed,
  awaitingConfirmation,
  open,
  keptRate,
  onTimeReportRate,
  currentStreak,
  longestStreak,
  acknowledgedMisses,
  acknowledgementsAccepted,
});
const none = row(0, 0, 0, 0, 0, 0, 0, null, null, 0, 0);
const categories = ["time", "communication", "honesty", "finances", "household", "social", "care", "other"];
const member = (
  userId: string,
  total: ReturnType<typeof row>,
  byCategory: Partial<Record<string, ReturnType<typeof row>>>,
) => ({
  userId,
  ...total,
  byCategory: Object.fromEntries(categories.map((c) => [c, byCategory[c] ?? none])),
});

describe("twelve weeks of two partners (the issue's scenario)", () => {
  it("gives both callers the hand-computed figures and weekly trend", async () => {
    const actions = [...alexPlan, ...blakePlan]
      .flatMap(actionsFor)
      .concat(boundaryActions())
      .map((action, order) => ({ ...action, order }))
      .sort((a, b) => a.at.getTime() - b.at.getTime() || a.order - b.order);
    for (const action of actions) {
      const wait = action.at.getTime() - t.clock.now().getTime();
      if (wait > 0) {
        await advanceClock(t, wait, alex, blake);
        await t.app.sweeper.runOnce();
      }
      await action.run();
    }
    await advanceClock(t, END.getTime() - t.clock.now().getTime(), alex, blake);
    await t.app.sweeper.runOnce();

    // ── Alex, by due time (k kept, b missed/lapsed; W, D, A, O are not in the walk):
    // a1 k · a2 k(onTime) · a3 b(missed early, ack accepted) · a4 k · a5 k · a6 W · a7 k(auto, onTime)
    // · a8 b(lapsed, ack) · a9 k · a10 k · a11 k(onTime) · a12 D · a13 k(late) · a14 k · a15 k
    // · a16 b(missed early) · a17 … a23 k (a19, a22 onTime) · a24 A · a25 O.
    // all: kept 18, missed 2, lapsed 1 → keptRate 18/21; in time: 17 kept (not a13) + 2 missed → 19/21;
    // runs 2, 3, 6, 7 → longest 7, current 7. 30d (dueAt ≥ 21 Apr 12:00): a15 … a25.
    // 7d (dueAt ≥ 14 May 12:00): a22 … a25.
    //                                    kept mis lap wd dis awt opn keptRate onTime cur lng ack acc
    const alexAll = member(alex.id, row(18, 2, 1, 1, 1, 1, 1, 18 / 21, 19 / 21, 7, 7, 2, 1), {
      time: row(15, 1, 1, 0, 0, 1, 1, 15 / 17, 15 / 17, 11, 11, 2, 1),
      communication: row(2, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2),
      household: row(0, 0, 0, 1, 0, 0, 0, null, null, 0, 0),
      care: row(1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1),
      honesty: row(0, 0, 0, 0, 1, 0, 0, null, null, 0, 0),
      finances: row(0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0),
    });
    const alex30 = member(alex.id, row(8, 1, 0, 0, 0, 1, 1, 8 / 9, 1, 7, 7), {
      time: row(7, 0, 0, 0, 0, 1, 1, 1, 1, 7, 7),
      communication: row(1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1),
      finances: row(0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0),
    });
    const alex7 = member(alex.id, row(2, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2), {
      time: row(2, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2),
    });
    // ── Blake: b1 k · b2 b(lapsed) · b3 k(onTime) · b4 k · b5 W · b6 b(missed early, ack) · b7 k
    // · b8 b(disputed, revised to missed, confirmed: timing of the first report, early) · b9 k
    // · b10 b(lapsed; its late report is still unconfirmed, so it counts as lapsed) · b11 k · b12 k · b13 k.
    // all: kept 8, missed 2, lapsed 2 → 8/12; in time 8 + 2 → 10/12; runs 1, 2, 1, 1, 3.
    // 30d: b8 … b13. 7d: b12, b13.
    const blakeAll = member(blake.id, row(8, 2, 2, 1, 0, 0, 0, 8 / 12, 10 / 12, 3, 3, 1, 0), {
      household: row(6, 2, 1, 0, 0, 0, 0, 6 / 9, 8 / 9, 3, 3, 1, 0),
      social: row(1, 0, 1, 1, 0, 0, 0, 1 / 2, 1 / 2, 0, 1),
      care: row(1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1),
    });
    const blake30 = member(blake.id, row(4, 1, 1, 0, 0, 0, 0, 4 / 6, 5 / 6, 3, 3), {
      household: row(3, 1, 0, 0, 0, 0, 0, 3 / 4, 1, 3, 3),
      social: row(0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0),
      care: row(1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1),
    });
    const blake7 = member(blake.id, row(2, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2), {
      household: row(1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1),
      care: row(1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1),
    });
    // Boundaries: B1 in force; revisions accepted 30 Mar and 11 May; B2 withdrawn 27 Apr.
    const expected = {
      "7d": { members: [alex7, blake7], boundaries: { agreed: 1, revisions: 0, withdrawn: 0 } },
      "30d": { members: [alex30, blake30], boundaries: { agreed: 1, revisions: 1, withdrawn: 1 } },
      // Twelve weeks fit in 90 days: the same as `all`.
      "90d": { members: [alexAll, blakeAll], boundaries: { agreed: 1, revisions: 2, withdrawn: 1 } },
      all: { members: [alexAll, blakeAll], boundaries: { agreed: 1, revisions: 2, withdrawn: 1 } },
    };
    for (const [window, table] of Object.entries(expected)) {
      const asAlex = await figures(t, pairId, alex, window);
      expect(await figures(t, pairId, blake, window)).toEqual(asAlex);
      expect(asAlex.asOf).toBe(END.toISOString());
      expect({ members: asAlex.members, boundaries: asAlex.boundaries }, window).toEqual(table);
    }

    // ── The weekly trend: [kept, missed, lapsed] per local week, 2 Mar … 18 May (the current week).
    // Alex's a23 (Sun 17 May 22:30 UTC) is Monday in Paris: week 12. Blake's b12 (Mon 18 May
    // 02:30 UTC) is Sunday in New York: week 11. Withdrawn, disputed, awaiting and open count nowhere.
    const weeks = Array.from({ length: 12 }, (_, i) =>
      monday(i + 1)
        .toISOString()
        .slice(0, 10),
    );
    const points = (counts: [number, number, number][]) =>
      counts.map(([kept, missed, lapsed], i) => ({
        weekStart: weeks[i],
        kept,
        missed,
        lapsed,
        keptRate: kept + missed + lapsed === 0 ? null : kept / (kept + missed + lapsed),
      }));
    const alexWeeks = points([
      [2, 0, 0],
      [1, 1, 0],
      [1, 0, 0],
      [1, 0, 1],
      [2, 0, 0],
      [1, 0, 0],
      [2, 0, 0],
      [1, 1, 0],
      [2, 0, 0],
      [2, 0, 0],
      [2, 0, 0],
      [1, 0, 0],
    ]);
    const blakeWeeks = points([
      [1, 0, 0],
      [0, 0, 1],
      [1, 0, 0],
      [1, 0, 0],
      [0, 0, 0],
      [0, 1, 0],
      [1, 0, 0],
      [0, 1, 0],
      [1, 0, 0],
      [0, 0, 1],
      [2, 0, 0],
      [1, 0, 0],
    ]);
    const asBlake = await trend(t, pairId, blake, 12);
    expect(await trend(t, pairId, alex)).toEqual(asBlake);
    expect(asBlake.members).toEqual([
      { userId: alex.id, points: alexWeeks },
      { userId: blake.id, points: blakeWeeks },
    ]);
    // Two weeks more reach before the first commitment: present, with zeros.
    const longer = await trend(t, pairId, alex, 14);
    expect(longer.members[1]?.points.slice(0, 3)).toEqual([
      { weekStart: "2026-02-16", kept: 0, missed: 0, lapsed: 0, keptRate: null },
      { weekStart: "2026-02-23", kept: 0, missed: 0, lapsed: 0, keptRate: null },
      blakeWeeks[0],
    ]);
  });

  it("then exports every event with hashes that verify, and after Blake deletes the account Alex keeps the history", async () => {
    const exported = await t.http.get("/v1/me/export").set(blake.auth).expect(200);
    const [pair] = JSON.parse(exported.text).pairs as {
      events: TimelineEvent[];
      checkpoint: { seq: number; hash: string };
    }[];
    const verify = await t.http.get(`/v1/pairs/${pairId}/verify`).set(alex.auth).expect(200);
    expect(pair?.events).toHaveLength(verify.body.lastSeq);
    let prevHash = GENESIS;
    for (const [index, event] of (pair?.events ?? []).entries()) {
      expect(event.seq).toBe(index + 1);
      expect(event.prevHash).toBe(prevHash);
      expect(recomputeHash(event)).toBe(event.hash);
      prevHash = event.hash;
    }
    expect(pair?.checkpoint).toMatchObject({ seq: verify.body.lastSeq, hash: prevHash });

    const before = await figures(t, pairId, alex, "all");
    await t.http.delete("/v1/me").set(blake.auth).send({ password: blake.password }).expect(204);
    await t.http.post("/v1/auth/login").send({ email: blake.email, password: blake.password }).expect(401);
    await t.http.get(`/v1/pairs/${pairId}`).set(blake.auth).expect(401);

    const pairNow = (await t.http.get(`/v1/pairs/${pairId}`).set(alex.auth).expect(200)).body;
    expect(pairNow).toMatchObject({ status: "ended", endReason: "account_deleted" });
    expect(pairNow.members[1]).toEqual({
      userId: blake.id,
      displayName: "former member",
      timeZone: null,
      joinedAt: expect.any(String),
    });
    expect((await t.http.get(`/v1/pairs/${pairId}/verify`).set(alex.auth).expect(200)).body.valid).toBe(true);
    const events = await t.http.get(`/v1/pairs/${pairId}/events?after=${verify.body.lastSeq - 1}`).set(alex.auth);
    expect(events.body.data[0].hash).toBe(prevHash);

    // The leaving rule applied: Alex's open a25 withdrawn, B1 ended, B3 cancelled; nothing else moves.
    const after = await figures(t, pairId, alex, "all");
    const alexBefore = before.members[0] as MemberFigures;
    const alexAfter = after.members[0] as MemberFigures;
    expect(alexAfter).toMatchObject({ open: 0, withdrawn: 2, kept: 18, keptRate: 18 / 21, currentStreak: 7 });
    expect(alexAfter.byCategory.time).toMatchObject({ open: 0, withdrawn: 1 });
    expect({ ...alexAfter, open: 1, withdrawn: 1, byCategory: null }).toEqual({ ...alexBefore, byCategory: null });
    expect(after.members[1]).toEqual(before.members[1]);
    expect(after.boundaries).toEqual({ agreed: 0, revisions: 2, withdrawn: 1 });
  });
});
