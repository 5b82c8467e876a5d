import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { DAY, HOUR, MINUTE } from "../helpers/clock.js";
import { type LinkedPair, linkPair } from "../helpers/pairs.js";
import { advanceClock, type SignedInUser } from "../helpers/users.js";

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t.close());

type Pair = LinkedPair & { owner: SignedInUser; partner: SignedInUser };

async function newPair(): Promise<Pair> {
  const pair = await linkPair(t);
  return { ...pair, owner: pair.inviter, partner: pair.joiner };
}

const inHours = (hours: number) => new Date(t.clock.now().getTime() + hours * HOUR).toISOString();

async function create(p: Pair, body: Record<string, unknown> = {}) {
  const response = await t.http
    .post(`/v1/pairs/${p.pairId}/commitments`)
    .set(p.owner.auth)
    .send({ title: "Home at 7", dueAt: inHours(10), category: "time", ...body })
    .expect(201);
  return response.body as { id: string; version: number; dueAt: string };
}

const step = (p: Pair, as: SignedInUser, id: string, path: string, body?: object) => {
  const request = t.http.post(`/v1/pairs/${p.pairId}/commitments/${id}/${path}`).set(as.auth);
  return body ? request.send(body) : request;
};

async function eventTypes(p: Pair, subjectId?: string): Promise<string[]> {
  const query = subjectId ? `&subjectId=${subjectId}` : "";
  const response = await t.http.get(`/v1/pairs/${p.pairId}/events?limit=100${query}`).set(p.owner.auth).expect(200);
  return response.body.data.map((e: { type: string }) => e.type);
}

async function statusOf(p: Pair, id: string): Promise<string> {
  return (await t.http.get(`/v1/pairs/${p.pairId}/commitments/${id}`).set(p.owner.auth).expect(200)).body.status;
}

async function expectChainValid(p: Pair) {
  const verify = await t.http.get(`/v1/pairs/${p.pairId}/verify`).set(p.partner.auth).expect(200);
  expect(verify.body.valid).toBe(true);
}

describe("making a commitment", () => {
  it("creates it owned by the caller, open, with defaults", async () => {
    const p = await newPair();
    const response = await t.http
      .post(`/v1/pairs/${p.pairId}/commitments`)
      .set(p.owner.auth)
      .send({ title: "  Home at 7  ", dueAt: inHours(10) })
      .expect(201);
    expect(response.body).toMatchObject({
      pairId: p.pairId,
      ownerId: p.owner.id,
      title: "Home at 7",
      details: null,
      category: "other",
      graceMinutes: 15,
      status: "open",
      outcome: null,
      report: null,
      confirmation: null,
      pendingReschedule: null,
      acknowledgement: null,
      withdrawal: null,
      seriesId: null,
      version: 1,
    });
    const location = `/v1/pairs/${p.pairId}/commitments/${response.body.id}`;
    expect(response.headers.location).toBe(location);
    expect(response.headers.etag).toBe('"1"');
    const read = await t.http.get(location).set(p.partner.auth).expect(200);
    expect(read.body).toEqual(response.body);
    await t.http.get(location).set(p.partner.auth).set("If-None-Match", '"1"').expect(304);
  });

  it("validates title, due time, grace and category", async () => {
    const p = await newPair();
    const post = (body: object) => t.http.post(`/v1/pairs/${p.pairId}/commitments`).set(p.owner.auth).send(body);
    const cases: [object, string][] = [
      [{ title: "", dueAt: inHours(1) }, "body.title"],
      [{ title: "x".repeat(201), dueAt: inHours(1) }, "body.title"],
      [{ title: "Past", dueAt: inHours(-1) }, "body.dueAt"],
      [{ title: "No zone", dueAt: "2026-03-03T10:00:00" }, "body.dueAt"],
      [{ title: "Grace", dueAt: inHours(1), graceMinutes: 1441 }, "body.graceMinutes"],
      [{ title: "Cat", dueAt: inHours(1), category: "romance" }, "body.category"],
      [{ title: "Owner", dueAt: inHours(1), ownerId: p.partner.id }, "body"],
    ];
    for (const [body, path] of cases) {
      const response = await post(body).expect(400);
      expect(response.body.code).toBe("VALIDATION_FAILED");
      expect(JSON.stringify(response.body.errors)).toContain(path);
    }
  });

  it("is edited by its owner while open, guarded by If-Match", async () => {
    const p = await newPair();
    const c = await create(p);
    const url = `/v1/pairs/${p.pairId}/commitments/${c.id}`;
    const edited = await t.http
      .patch(url)
      .set(p.owner.auth)
      .set("If-Match", '"1"')
      .send({ details: "Dinner together", category: "household" })
      .expect(200);
    expect(edited.body).toMatchObject({ details: "Dinner together", category: "household", version: 2 });
    expect(
      (await t.http.patch(url).set(p.owner.auth).set("If-Match", '"1"').send({ title: "X" }).expect(412)).body.code,
    ).toBe("PRECONDITION_FAILED");
    expect((await t.http.patch(url).set(p.partner.auth).send({ title: "Mine now" }).expect(409)).body.code).toBe(
      "OWNER_ONLY",
    );
    await t.http.patch(url).set(p.owner.auth).send({ details: null }).expect(200);
    await t.http
      .patch(url)
      .set(p.owner.auth)
      .send({ dueAt: inHours(20) })
      .expect(400);
    await step(p, p.owner, c.id, "report", { outcome: "kept" }).expect(200);
    expect((await t.http.patch(url).set(p.owner.auth).send({ title: "Late edit" }).expect(409)).body.code).toBe(
      "COMMITMENT_NOT_OPEN",
    );
    expect(await eventTypes(p, c.id)).toEqual([
      "commitment.created",
      "commitment.updated",
      "commitment.updated",
      "commitment.reported",
    ]);
  });
});

describe("follow-through", () => {
  it("home at 7: reported kept on time, confirmed by the partner", async () => {
    const p = await newPair();
    const c = await create(p, { dueAt: inHours(1) });
    await advanceClock(t, HOUR + 5 * MINUTE, p.owner, p.partner);
    const reported = await step(p, p.owner, c.id, "report", { outcome: "kept", note: "Home 19:03" }).expect(200);
    expect(reported.body).toMatchObject({
      status: "reported",
      outcome: "kept",
      report: { outcome: "kept", note: "Home 19:03", reportedAt: t.clock.now().toISOString(), timing: "onTime" },
      confirmation: {
        state: "pending",
        auto: false,
        at: null,
        dueAt: new Date(t.clock.now().getTime() + 72 * HOUR).toISOString(),
      },
    });
    const confirmed = await step(p, p.partner, c.id, "confirm").expect(200);
    expect(confirmed.body).toMatchObject({ status: "confirmed", confirmation: { state: "confirmed", auto: false } });
    expect(await eventTypes(p, c.id)).toEqual(["commitment.created", "commitment.reported", "commitment.confirmed"]);
    await expectChainValid(p);
  });

  it("records early and late reports", async () => {
    const p = await newPair();
    const early = await create(p, { dueAt: inHours(2) });
    expect((await step(p, p.owner, early.id, "report", { outcome: "kept" })).body.report.timing).toBe("early");
    const late = await create(p, { dueAt: inHours(1), graceMinutes: 10 });
    await advanceClock(t, HOUR + 11 * MINUTE, p.owner, p.partner);
    expect((await step(p, p.owner, late.id, "report", { outcome: "kept" })).body.report.timing).toBe("late");
  });

  it("a miss, acknowledged by the owner and accepted by the partner", async () => {
    const p = await newPair();
    const c = await create(p);
    expect((await step(p, p.owner, c.id, "acknowledgement", { text: "Sorry" }).expect(409)).body.code).toBe(
      "NOTHING_TO_ACKNOWLEDGE",
    );
    expect((await step(p, p.partner, c.id, "acknowledgement/accept").expect(409)).body.code).toBe("NO_ACKNOWLEDGEMENT");
    await step(p, p.owner, c.id, "report", { outcome: "missed", note: "Stayed late at work" }).expect(200);
    await step(p, p.partner, c.id, "confirm").expect(200);
    const acknowledged = await step(p, p.owner, c.id, "acknowledgement", {
      text: "I did not call. Next time I call before 18:00.",
    }).expect(200);
    expect(acknowledged.body.acknowledgement).toEqual({
      text: "I did not call. Next time I call before 18:00.",
      acknowledgedAt: t.clock.now().toISOString(),
      acceptedAt: null,
    });
    expect((await step(p, p.owner, c.id, "acknowledgement", { text: "Again" }).expect(409)).body.code).toBe(
      "ALREADY_ACKNOWLEDGED",
    );
    expect((await step(p, p.owner, c.id, "acknowledgement/accept").expect(409)).body.code).toBe("PARTNER_ONLY");
    const accepted = await step(p, p.partner, c.id, "acknowledgement/accept").expect(200);
    expect(accepted.body.acknowledgement.acceptedAt).toBe(t.clock.now().toISOString());
    expect((await step(p, p.partner, c.id, "acknowledgement/accept").expect(409)).body.code).toBe(
      "ACKNOWLEDGEMENT_ALREADY_ACCEPTED",
    );
    expect(await eventTypes(p, c.id)).toEqual([
      "commitment.created",
      "commitment.reported",
      "commitment.confirmed",
      "commitment.acknowledged",
      "commitment.acknowledgement_accepted",
    ]);
    // Notes and acknowledgement text never enter the timeline.
    const events = await t.http.get(`/v1/pairs/${p.pairId}/events`).set(p.owner.auth);
    expect(JSON.stringify(events.body)).not.toMatch(/Stayed late|call before/);
  });

  it("lapses when unreported past dueAt + grace, and may still be reported late", async () => {
    const p = await newPair();
    const c = await create(p, { dueAt: inHours(1), graceMinutes: 30 });
    await advanceClock(t, HOUR + 30 * MINUTE, p.owner, p.partner);
    await t.app.sweeper.runOnce();
    expect(await statusOf(p, c.id)).toBe("open");
    await advanceClock(t, 1, p.owner, p.partner);
    await t.app.sweeper.runOnce();
    // Sweeping again changes nothing: one lapse event.
    await t.app.sweeper.runOnce();
    const lapsed = await t.http.get(`/v1/pairs/${p.pairId}/commitments/${c.id}`).set(p.partner.auth).expect(200);
    expect(lapsed.body).toMatchObject({ status: "lapsed", outcome: null, lapsedAt: t.clock.now().toISOString() });
    await step(p, p.owner, c.id, "acknowledgement", { text: "I forgot to report and to come home." }).expect(200);
    const late = await step(p, p.owner, c.id, "report", { outcome: "kept" }).expect(200);
    expect(late.body).toMatchObject({ status: "reported", report: { timing: "late" }, lapsedAt: lapsed.body.lapsedAt });
    const events = await t.http.get(`/v1/pairs/${p.pairId}/events?subjectId=${c.id}`).set(p.owner.auth);
    const lapseEvent = events.body.data.find((e: { type: string }) => e.type === "commitment.lapsed");
    expect(lapseEvent.actorId).toBeNull();
    expect(await eventTypes(p, c.id)).toEqual([
      "commitment.created",
      "commitment.lapsed",
      "commitment.acknowledged",
      "commitment.reported",
    ]);
  });

  it("a dispute, revised by the owner (window restarts), then the dispute withdrawn", async () => {
    const p = await newPair();
    const c = await create(p);
    await step(p, p.owner, c.id, "report", { outcome: "kept" }).expect(200);
    expect((await step(p, p.partner, c.id, "dispute", {}).expect(400)).body.code).toBe("VALIDATION_FAILED");
    const disputed = await step(p, p.partner, c.id, "dispute", { note: "You came home at 9" }).expect(200);
    expect(disputed.body).toMatchObject({
      status: "disputed",
      confirmation: { state: "disputed", note: "You came home at 9", dueAt: null },
    });
    // A disputed report never confirms by itself.
    await advanceClock(t, 4 * DAY, p.owner, p.partner);
    await t.app.sweeper.runOnce();
    expect(await statusOf(p, c.id)).toBe("disputed");
    expect((await step(p, p.partner, c.id, "dispute", { note: "again" }).expect(409)).body.code).toBe(
      "NOTHING_TO_DISPUTE",
    );
    const revised = await step(p, p.owner, c.id, "report", { outcome: "missed", note: "You are right" }).expect(200);
    expect(revised.body).toMatchObject({
      status: "reported",
      outcome: "missed",
      report: { timing: "early" },
      confirmation: { state: "pending", dueAt: new Date(t.clock.now().getTime() + 72 * HOUR).toISOString() },
    });
    await step(p, p.partner, c.id, "dispute", { note: "Still not right" }).expect(200);
    const withdrawn = await step(p, p.partner, c.id, "confirm").expect(200);
    expect(withdrawn.body).toMatchObject({ status: "confirmed", outcome: "missed" });
    expect(await eventTypes(p, c.id)).toEqual([
      "commitment.created",
      "commitment.reported",
      "commitment.disputed",
      "commitment.reported",
      "commitment.disputed",
      "commitment.dispute_withdrawn",
    ]);
  });

  it("a report left unanswered for 72 hours is confirmed automatically, with no actor", async () => {
    const p = await newPair();
    const c = await create(p);
    await step(p, p.owner, c.id, "report", { outcome: "kept" }).expect(200);
    await advanceClock(t, 72 * HOUR - MINUTE, p.owner, p.partner);
    await t.app.sweeper.runOnce();
    expect(await statusOf(p, c.id)).toBe("reported");
    await advanceClock(t, MINUTE, p.owner, p.partner);
    await t.app.sweeper.runOnce();
    const read = await t.http.get(`/v1/pairs/${p.pairId}/commitments/${c.id}`).set(p.owner.auth).expect(200);
    expect(read.body).toMatchObject({ status: "confirmed", confirmation: { state: "confirmed", auto: true } });
    const events = await t.http.get(`/v1/pairs/${p.pairId}/events?types=commitment.confirmed`).set(p.owner.auth);
    expect(events.body.data).toHaveLength(1);
    expect(events.body.data[0]).toMatchObject({ actorId: null, payload: { auto: true, outcome: "kept" } });
  });

  it("withdrawn before it is due, with the notice given; not after", async () => {
    const p = await newPair();
    const c = await create(p, { dueAt: inHours(3) });
    expect((await step(p, p.partner, c.id, "withdraw", { reason: "Not mine" }).expect(409)).body.code).toBe(
      "OWNER_ONLY",
    );
    const withdrawn = await step(p, p.owner, c.id, "withdraw", { reason: "Work trip" }).expect(200);
    expect(withdrawn.body).toMatchObject({
      status: "withdrawn",
      withdrawal: { reason: "Work trip", cause: "owner", noticeMinutes: 180 },
    });
    expect((await step(p, p.owner, c.id, "report", { outcome: "kept" }).expect(409)).body.code).toBe("NOT_REPORTABLE");
    const due = await create(p, { dueAt: inHours(1) });
    await advanceClock(t, HOUR, p.owner, p.partner);
    expect((await step(p, p.owner, due.id, "withdraw", { reason: "Too late" }).expect(409)).body.code).toBe("PAST_DUE");
  });
});

describe("rescheduling by consent", () => {
  it("accepted: the new time applies; declined: the original stays", async () => {
    const p = await newPair();
    const c = await create(p, { dueAt: inHours(5) });
    const proposed = await step(p, p.owner, c.id, "reschedule", { dueAt: inHours(8), reason: "Train delay" }).expect(
      200,
    );
    expect(proposed.body.pendingReschedule).toEqual({
      dueAt: inHours(8),
      reason: "Train delay",
      proposedAt: t.clock.now().toISOString(),
    });
    expect(proposed.body.dueAt).toBe(c.dueAt);
    expect((await step(p, p.owner, c.id, "reschedule", { dueAt: inHours(9) }).expect(409)).body.code).toBe(
      "RESCHEDULE_PENDING",
    );
    expect((await step(p, p.owner, c.id, "reschedule/accept").expect(409)).body.code).toBe("PARTNER_ONLY");
    const accepted = await step(p, p.partner, c.id, "reschedule/accept").expect(200);
    expect(accepted.body).toMatchObject({ dueAt: inHours(8), pendingReschedule: null });

    await step(p, p.owner, c.id, "reschedule", { dueAt: inHours(12) }).expect(200);
    const declined = await step(p, p.partner, c.id, "reschedule/decline").expect(200);
    expect(declined.body).toMatchObject({ dueAt: inHours(8), pendingReschedule: null });
    expect((await step(p, p.partner, c.id, "reschedule/decline").expect(409)).body.code).toBe("NO_PENDING_RESCHEDULE");

    await step(p, p.owner, c.id, "reschedule", { dueAt: inHours(12) }).expect(200);
    await step(p, p.owner, c.id, "reschedule/cancel").expect(200);
    expect(await eventTypes(p, c.id)).toEqual([
      "commitment.created",
      "commitment.reschedule_proposed",
      "commitment.rescheduled",
      "commitment.reschedule_proposed",
      "commitment.reschedule_declined",
      "commitment.reschedule_proposed",
      "commitment.reschedule_cancelled",
    ]);
    await expectChainValid(p);
  });

  it("expires at the original due time; a later accept answers 409; lapse counts from the time in force", async () => {
    const p = await newPair();
    const c = await create(p, { dueAt: inHours(2), graceMinutes: 15 });
    await step(p, p.owner, c.id, "reschedule", { dueAt: inHours(6) }).expect(200);
    await advanceClock(t, 2 * HOUR, p.owner, p.partner);
    expect((await step(p, p.partner, c.id, "reschedule/accept").expect(409)).body.code).toBe("RESCHEDULE_EXPIRED");
    await t.app.sweeper.runOnce();
    expect(await statusOf(p, c.id)).toBe("open");
    expect((await step(p, p.partner, c.id, "reschedule/accept").expect(409)).body.code).toBe("NO_PENDING_RESCHEDULE");
    await advanceClock(t, 15 * MINUTE + 1, p.owner, p.partner);
    await t.app.sweeper.runOnce();
    expect(await statusOf(p, c.id)).toBe("lapsed");
    expect(await eventTypes(p, c.id)).toEqual([
      "commitment.created",
      "commitment.reschedule_proposed",
      "commitment.reschedule_expired",
      "commitment.lapsed",
    ]);
  });

  it("a report or a withdrawal cancels a pending proposal", async () => {
    const p = await newPair();
    const a = await create(p, { dueAt: inHours(5) });
    await step(p, p.owner, a.id, "reschedule", { dueAt: inHours(8) }).expect(200);
    const reported = await step(p, p.owner, a.id, "report", { outcome: "kept" }).expect(200);
    expect(reported.body.pendingReschedule).toBeNull();
    const b = await create(p, { dueAt: inHours(5) });
    await step(p, p.owner, b.id, "reschedule", { dueAt: inHours(8) }).expect(200);
    await step(p, p.owner, b.id, "withdraw", { reason: "Plans changed" }).expect(200);
    expect(await eventTypes(p, b.id)).toEqual([
      "commitment.created",
      "commitment.reschedule_proposed",
      "commitment.reschedule_cancelled",
      "commitment.withdrawn",
    ]);
  });
});

describe("illegal moves", () => {
  it("answer 409 with the rule's code and change nothing", async () => {
    const p = await newPair();
    const c = await create(p);
    const cases: [SignedInUser, string, object | undefined, string][] = [
      [p.partner, "report", { outcome: "kept" }, "OWNER_ONLY"],
      [p.owner, "confirm", undefined, "PARTNER_ONLY"],
      [p.partner, "confirm", undefined, "NOTHING_TO_CONFIRM"],
      [p.partner, "dispute", { note: "No" }, "NOTHING_TO_DISPUTE"],
      [p.partner, "reschedule/accept", undefined, "NO_PENDING_RESCHEDULE"],
      [p.owner, "reschedule/cancel", undefined, "NO_PENDING_RESCHEDULE"],
      [p.partner, "reschedule", { dueAt: inHours(20) }, "OWNER_ONLY"],
    ];
    for (const [as, path, body, code] of cases) {
      const response = await step(p, as, c.id, path, body).expect(409);
      expect(response.body.code, path).toBe(code);
    }
    await step(p, p.owner, c.id, "report", { outcome: "kept" }).expect(200);
    expect((await step(p, p.owner, c.id, "confirm").expect(409)).body.code).toBe("PARTNER_ONLY");
    expect((await step(p, p.owner, c.id, "report", { outcome: "missed" }).expect(409)).body.code).toBe(
      "NOT_REPORTABLE",
    );
    expect((await step(p, p.owner, c.id, "withdraw", { reason: "x" }).expect(409)).body.code).toBe(
      "COMMITMENT_NOT_OPEN",
    );
    expect(await eventTypes(p, c.id)).toEqual(["commitment.created", "commitment.reported"]);
  });

  it("unknown fields on a step are refused; an id from another pair is 404", async () => {
    const p = await newPair();
    const other = await newPair();
    const c = await create(p);
    await step(p, p.partner, c.id, "confirm", { extra: 1 }).expect(400);
    const foreign = await t.http
      .post(`/v1/pairs/${other.pairId}/commitments/${c.id}/report`)
      .set(other.owner.auth)
      .send({ outcome: "kept" })
      .expect(404);
    expect(foreign.body.code).toBe("NOT_FOUND");
    await t.http.get(`/v1/pairs/${p.pairId}/commitments/not-a-uuid`).set(p.owner.auth).expect(404);
  });

  it("If-Match protects a step from acting on a state the caller did not see", async () => {
    const p = await newPair();
    const c = await create(p);
    await step(p, p.owner, c.id, "report", { outcome: "kept" }).expect(200);
    const stale = await step(p, p.partner, c.id, "confirm").set("If-Match", '"1"').expect(412);
    expect(stale.body.code).toBe("PRECONDITION_FAILED");
    await step(p, p.partner, c.id, "confirm").set("If-Match", '"2"').expect(200);
  });
});

describe("listing", () => {
  it("filters by owner, status and due window, newest due first, cursor-paginated", async () => {
    const p = await newPair();
    const mine = [
      await create(p, { dueAt: inHours(1) }),
      await create(p, { dueAt: inHours(2) }),
      await create(p, { dueAt: inHours(3) }),
    ];
    const theirs = await t.http
      .post(`/v1/pairs/${p.pairId}/commitments`)
      .set(p.partner.auth)
      .send({ title: "Call mum", dueAt: inHours(4) })
      .expect(201);
    await step(p, p.owner, mine[0]?.id ?? "", "report", { outcome: "kept" }).expect(200);
    const list = (query: string, as = p.owner) =>
      t.http.get(`/v1/pairs/${p.pairId}/commitments?${query}`).set(as.auth).expect(200);
    const ids = (r: { body: { data: { id: string }[] } }) => r.body.data.map((c) => c.id);

    expect(ids(await list(""))).toEqual([theirs.body.id, mine[2]?.id, mine[1]?.id, mine[0]?.id]);
    expect(ids(await list("owner=me"))).toEqual([mine[2]?.id, mine[1]?.id, mine[0]?.id]);
    expect(ids(await list("owner=partner"))).toEqual([theirs.body.id]);
    expect(ids(await list("owner=me", p.partner))).toEqual([theirs.body.id]);
    expect(ids(await list(`owner=${p.owner.id}&status=open`))).toEqual([mine[2]?.id, mine[1]?.id]);
    expect(ids(await list("status=reported,confirmed"))).toEqual([mine[0]?.id]);
    expect(
      ids(await list(`dueFrom=${encodeURIComponent(inHours(2))}&dueTo=${encodeURIComponent(inHours(4))}`)),
    ).toEqual([mine[2]?.id, mine[1]?.id]);
    expect(ids(await list("order=asc&limit=2"))).toEqual([mine[0]?.id, mine[1]?.id]);

    const page1 = await list("limit=3");
    expect(page1.body.nextCursor).toEqual(expect.any(String));
    const page2 = await list(`limit=3&cursor=${page1.body.nextCursor}`);
    expect([...ids(page1), ...ids(page2)]).toEqual([theirs.body.id, mine[2]?.id, mine[1]?.id, mine[0]?.id]);
    expect(page2.body.nextCursor).toBeNull();
    for (const bad of ["status=nope", "owner=someone", "limit=500", "dueFrom=yesterday", "sort=title"]) {
      await t.http.get(`/v1/pairs/${p.pairId}/commitments?${bad}`).set(p.owner.auth).expect(400);
    }
  });
});
