import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { agreeBoundary, boundaryPath, eventTypes, proposeBoundary } from "../helpers/boundaries.js";
import { HOUR, MINUTE } from "../helpers/clock.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { linkPair } from "../helpers/pairs.js";
import { refreshUser } from "../helpers/users.js";

let t: TestApp;
beforeAll(async () => {
  // The clock moves by hours here; tokens must outlive that.
  t = await buildTestApp({ passwordHasher: fastHasher, env: { KEPT_ACCESS_TOKEN_TTL_SECONDS: "86400" } });
});
afterAll(() => t.close());

type Event = { type: string; actorId: string | null; subjectId: string; payload: Record<string, unknown> };

const inHours = (hours: number) => new Date(t.clock.now().getTime() + hours * HOUR).toISOString();

async function events(pairId: string, auth: Record<string, string>): Promise<Event[]> {
  return (await t.http.get(`/v1/pairs/${pairId}/events?limit=100`).set(auth).expect(200)).body.data;
}

async function verifies(pairId: string, auth: Record<string, string>): Promise<boolean> {
  return (await t.http.get(`/v1/pairs/${pairId}/verify`).set(auth).expect(200)).body.valid;
}

describe("time boxes (the sweep)", () => {
  it("end an agreed boundary once endsAt has passed, cancelling a pending revision first; once only", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    const plain = await agreeBoundary(t, pairId, inviter, joiner, { endsAt: inHours(2) });
    const revising = await agreeBoundary(t, pairId, inviter, joiner, { endsAt: inHours(2) });
    const later = await agreeBoundary(t, pairId, inviter, joiner, { endsAt: inHours(3) });
    await t.http
      .post(boundaryPath(pairId, revising.id, "/revisions"))
      .set(joiner.auth)
      .send({ endsAt: inHours(5) })
      .expect(201);
    const before = (await events(pairId, inviter.auth)).length;

    t.clock.advance(2 * HOUR - 1);
    expect((await t.app.sweeper.runOnce()).boundaryTimeBoxes).toBe(0);
    t.clock.advance(1);
    expect((await t.app.sweeper.runOnce()).boundaryTimeBoxes).toBe(2);
    expect((await t.app.sweeper.runOnce()).boundaryTimeBoxes).toBe(0);

    const after = (await events(pairId, inviter.auth)).slice(before);
    const bySubject = (id: string) => after.filter((e) => e.subjectId === id);
    expect(bySubject(plain.id).map((e) => [e.type, e.actorId, e.payload])).toEqual([
      ["boundary.ended", null, { status: "ended", version: 1, cause: "time_box_ended" }],
    ]);
    expect(bySubject(revising.id).map((e) => [e.type, e.actorId, e.payload])).toEqual([
      ["boundary.revision_cancelled", null, { version: 2, status: "cancelled", cause: "time_box_ended" }],
      ["boundary.ended", null, { status: "ended", version: 1, cause: "time_box_ended" }],
    ]);
    expect(bySubject(later.id)).toEqual([]);
    const ended = await t.http.get(boundaryPath(pairId, revising.id)).set(joiner.auth).expect(200);
    expect(ended.body).toMatchObject({
      status: "ended",
      pendingRevision: null,
      closure: { cause: "time_box_ended", by: null, reason: null },
    });
    expect((await t.http.get(boundaryPath(pairId, later.id)).set(joiner.auth).expect(200)).body.status).toBe("agreed");
    expect(await verifies(pairId, joiner.auth)).toBe(true);
  });

  it("cancel a proposal not accepted by its endsAt; accepting it afterwards is refused", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    const proposal = await proposeBoundary(t, pairId, inviter, { endsAt: inHours(1) });
    t.clock.advance(HOUR);
    expect((await t.app.sweeper.runOnce()).boundaryProposalsUnaccepted).toBe(1);
    const cancelled = await t.http.get(boundaryPath(pairId, proposal.id)).set(joiner.auth).expect(200);
    expect(cancelled.body).toMatchObject({
      status: "cancelled",
      versions: [],
      closure: { cause: "not_accepted_in_time", by: null },
    });
    const late = await t.http
      .post(boundaryPath(pairId, proposal.id, "/accept"))
      .set(joiner.auth)
      .expect(409);
    expect(late.body.code).toBe("BOUNDARY_NOT_PROPOSED");
    const last = (await events(pairId, joiner.auth)).at(-1);
    expect(last).toMatchObject({
      type: "boundary.cancelled",
      actorId: null,
      payload: { status: "cancelled", version: 1, cause: "not_accepted_in_time" },
    });
    expect((await t.app.sweeper.runOnce()).boundaryProposalsUnaccepted).toBe(0);
  });

  it("emit boundary.review_due once when reviewAt has come, even if the sweep runs twice; a new review date re-arms it", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    const boundary = await agreeBoundary(t, pairId, inviter, joiner, { reviewAt: inHours(1) });
    const unreviewed = await proposeBoundary(t, pairId, inviter, { reviewAt: inHours(1) });
    t.clock.advance(30 * MINUTE);
    expect((await t.app.sweeper.runOnce()).boundaryReviews).toBe(0);
    t.clock.advance(30 * MINUTE);
    expect((await t.app.sweeper.runOnce()).boundaryReviews).toBe(1);
    expect((await t.app.sweeper.runOnce()).boundaryReviews).toBe(0);
    t.clock.advance(HOUR);
    expect((await t.app.sweeper.runOnce()).boundaryReviews).toBe(0);
    const reviewEvents = (await events(pairId, inviter.auth)).filter((e) => e.type === "boundary.review_due");
    expect(reviewEvents.map((e) => [e.subjectId, e.actorId, e.payload])).toEqual([
      [boundary.id, null, { version: 1, status: "agreed" }],
    ]);
    // Not a change to the boundary: its ETag stays.
    const read = await t.http.get(boundaryPath(pairId, boundary.id)).set(inviter.auth).expect(200);
    expect(read.headers.etag).toBe(`"${boundary.rowVersion}"`);

    // The partners agree on a new review date: it is due once more, when it comes.
    await t.http
      .post(boundaryPath(pairId, boundary.id, "/revisions"))
      .set(inviter.auth)
      .send({ reviewAt: inHours(20) })
      .expect(201);
    await t.http
      .post(boundaryPath(pairId, boundary.id, "/revisions/2/accept"))
      .set(joiner.auth)
      .expect(200);
    expect((await t.app.sweeper.runOnce()).boundaryReviews).toBe(0);
    t.clock.advance(20 * HOUR);
    expect((await t.app.sweeper.runOnce()).boundaryReviews).toBe(1);
    expect((await t.app.sweeper.runOnce()).boundaryReviews).toBe(0);
    expect(
      (await events(pairId, inviter.auth)).filter((e) => e.type === "boundary.review_due").map((e) => e.payload),
    ).toEqual([
      { version: 1, status: "agreed" },
      { version: 2, status: "agreed" },
    ]);
    // A proposal is never due for review.
    expect(
      (await events(pairId, inviter.auth)).some((e) => e.subjectId === unreviewed.id && e.type.endsWith("due")),
    ).toBe(false);
  });

  it("are safe with several instances: a row another transaction holds is skipped, concurrent passes write once", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    const held = await agreeBoundary(t, pairId, inviter, joiner, { endsAt: inHours(1) });
    const raced = await agreeBoundary(t, pairId, inviter, joiner, { endsAt: inHours(1), reviewAt: inHours(1) });
    t.clock.advance(HOUR);
    const client = new pg.Client({ connectionString: t.databaseUrl });
    await client.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT 1 FROM boundaries WHERE id = $1 FOR UPDATE", [held.id]);
      const passes = await Promise.all([t.app.sweeper.runOnce(), t.app.sweeper.runOnce()]);
      expect(passes.map((p) => p.boundaryTimeBoxes).reduce((a, b) => (a ?? 0) + (b ?? 0), 0)).toBe(1);
      await client.query("ROLLBACK");
    } finally {
      await client.end();
    }
    expect((await t.app.sweeper.runOnce()).boundaryTimeBoxes).toBe(1);
    const types = (await events(pairId, inviter.auth)).filter((e) => e.type === "boundary.ended");
    expect(types.map((e) => e.subjectId).sort()).toEqual([held.id, raced.id].sort());
    // Ended before its review came due in the same pass: no review for a boundary no longer in force.
    expect((await events(pairId, inviter.auth)).some((e) => e.type === "boundary.review_due")).toBe(false);
    expect(await verifies(pairId, inviter.auth)).toBe(true);
  });
});

describe("leaving the pair", () => {
  it("cancels proposals and pending revisions, ends agreed boundaries, one event each, then pair.ended", async () => {
    let { pairId, inviter: alex, joiner: blake } = await linkPair(t);
    const proposal = await proposeBoundary(t, pairId, alex, { endsAt: inHours(48), reviewAt: inHours(2) });
    const agreed = await agreeBoundary(t, pairId, alex, blake, { endsAt: inHours(48), reviewAt: inHours(2) });
    const revising = await agreeBoundary(t, pairId, blake, alex);
    await t.http
      .post(boundaryPath(pairId, revising.id, "/revisions"))
      .set(alex.auth)
      .send({ text: "New" })
      .expect(201);
    const withdrawn = await agreeBoundary(t, pairId, blake, alex);
    await t.http
      .post(boundaryPath(pairId, withdrawn.id, "/withdraw"))
      .set(alex.auth)
      .send({ reason: "No" });
    const declined = await proposeBoundary(t, pairId, blake);
    await t.http
      .post(boundaryPath(pairId, declined.id, "/decline"))
      .set(alex.auth)
      .expect(200);
    const before = (await events(pairId, alex.auth)).length;

    await t.http.post(`/v1/pairs/${pairId}/leave`).set(blake.auth).expect(200);
    const after = (await events(pairId, alex.auth)).slice(before);
    expect(after).toHaveLength(5);
    expect(after.every((e) => e.actorId === blake.id)).toBe(true);
    const of = (id: string) => after.filter((e) => e.subjectId === id).map((e) => [e.type, e.payload]);
    expect(of(proposal.id)).toEqual([["boundary.cancelled", { status: "cancelled", version: 1, cause: "pair_ended" }]]);
    expect(of(agreed.id)).toEqual([["boundary.ended", { status: "ended", version: 1, cause: "pair_ended" }]]);
    expect(of(revising.id)).toEqual([
      ["boundary.revision_cancelled", { version: 2, status: "cancelled", cause: "pair_ended" }],
      ["boundary.ended", { status: "ended", version: 1, cause: "pair_ended" }],
    ]);
    expect(after.at(-1)).toMatchObject({ type: "pair.ended", payload: { endedBy: blake.id, reason: "left" } });

    const statuses = Object.fromEntries(
      (await t.http.get(boundaryPath(pairId)).set(alex.auth).expect(200)).body.data.map(
        (b: { id: string; status: string; pendingRevision: unknown; closure: { cause: string } }) => [
          b.id,
          [b.status, b.closure.cause, b.pendingRevision],
        ],
      ),
    );
    expect(statuses).toEqual({
      [proposal.id]: ["cancelled", "pair_ended", null],
      [agreed.id]: ["ended", "pair_ended", null],
      [revising.id]: ["ended", "pair_ended", null],
      [withdrawn.id]: ["withdrawn", "withdrawn", null],
      [declined.id]: ["declined", "declined", null],
    });
    // The sweep ignores the ended pair: nothing more is ever appended.
    t.clock.advance(72 * HOUR);
    await t.app.sweeper.runOnce();
    alex = await refreshUser(t, alex);
    blake = await refreshUser(t, blake);
    expect((await events(pairId, alex.auth)).length).toBe(before + 5);
    expect(await verifies(pairId, blake.auth)).toBe(true);
    expect(await eventTypes(t, pairId, blake)).toContain("boundary.withdrawn");
  });
});
