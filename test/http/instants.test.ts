import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { agreeBoundary, boundaryPath, sampleBoundary } from "../helpers/boundaries.js";
import { HOUR } from "../helpers/clock.js";
import { type LinkedPair, linkPair } from "../helpers/pairs.js";

/**
 * Every instant a client sends is bounded (docs/api.md, "Conventions"): from
 * 1970-01-01T00:00:00Z up to, not including, 2200-01-01T00:00:00Z. Before
 * the bound, `dueAt: 9999-12-31T23:59:59Z` answered 500 (its lapse time
 * fell in year 10000), and a reschedule or a request to that date was
 * accepted, leaving an accept that answered 500.
 */

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t.close());

const FAR = "9999-12-31T23:59:59Z";
const LAST_SECOND = "2199-12-31T23:59:59Z";
const inHours = (hours: number) => new Date(t.clock.now().getTime() + hours * HOUR).toISOString();

type Answer = { status: number; body: { code: string; errors?: { path: string; message: string }[] } };

function expectOutOfRange(response: Answer, path: string): void {
  expect(response.status).toBe(400);
  expect(response.body.code).toBe("VALIDATION_FAILED");
  expect(response.body.errors).toContainEqual({
    path,
    message: "must be an instant from 1970-01-01T00:00:00Z up to (not including) 2200-01-01T00:00:00Z",
  });
}

const createCommitment = (p: LinkedPair, body: Record<string, unknown>) =>
  t.http
    .post(`/v1/pairs/${p.pairId}/commitments`)
    .set(p.inviter.auth)
    .send({ title: "Home at 7", ...body });

describe("instants are bounded", () => {
  it("a commitment due past the bound is a 400, not a 500; the last second before it works end to end", async () => {
    const p = await linkPair(t);
    expectOutOfRange(await createCommitment(p, { dueAt: FAR }), "body.dueAt");
    // The bound is on the instant, whatever offset spells it.
    expectOutOfRange(await createCommitment(p, { dueAt: "2199-12-31T23:59:59-05:00" }), "body.dueAt");
    // Every instant computed from a bounded one (lapse time, confirmation window) is still storable.
    const last = await createCommitment(p, { dueAt: LAST_SECOND, graceMinutes: 1440 }).expect(201);
    expect(last.body.dueAt).toBe("2199-12-31T23:59:59.000Z");
    await t.http
      .post(`/v1/pairs/${p.pairId}/commitments/${last.body.id}/report`)
      .set(p.inviter.auth)
      .send({ outcome: "kept" })
      .expect(200);
  });

  it("a reschedule past the bound is refused; one to the last second is accepted by the partner", async () => {
    const p = await linkPair(t);
    const created = await createCommitment(p, { dueAt: inHours(10) }).expect(201);
    const path = `/v1/pairs/${p.pairId}/commitments/${created.body.id}`;
    expectOutOfRange(await t.http.post(`${path}/reschedule`).set(p.inviter.auth).send({ dueAt: FAR }), "body.dueAt");
    const proposed = await t.http
      .post(`${path}/reschedule`)
      .set(p.inviter.auth)
      .send({ dueAt: LAST_SECOND })
      .expect(200);
    const accepted = await t.http
      .post(`${path}/reschedule/accept`)
      .set(p.joiner.auth)
      .set("If-Match", `"${proposed.body.version}"`)
      .expect(200);
    expect(accepted.body.dueAt).toBe("2199-12-31T23:59:59.000Z");
  });

  it("a request past the bound is refused; one to the last second is accepted by the one asked", async () => {
    const p = await linkPair(t);
    const ask = (dueAt: string) =>
      t.http.post(`/v1/pairs/${p.pairId}/requests`).set(p.joiner.auth).send({ title: "Home by 7?", dueAt });
    expectOutOfRange(await ask(FAR), "body.dueAt");
    const request = await ask(LAST_SECOND).expect(201);
    const accepted = await t.http
      .post(`/v1/pairs/${p.pairId}/requests/${request.body.id}/accept`)
      .set(p.inviter.auth)
      .set("If-Match", `"${request.body.version}"`)
      .expect(200);
    expect(accepted.body.commitment.dueAt).toBe("2199-12-31T23:59:59.000Z");
  });

  it("a recurrence's UNTIL past the bound is refused", async () => {
    const p = await linkPair(t);
    const response = await createCommitment(p, {
      dueAt: inHours(10),
      recurrence: { rrule: "FREQ=DAILY;UNTIL=99991231T235959Z" },
    });
    expect(response.status).toBe(400);
    expect(response.body.code).toBe("VALIDATION_FAILED");
    expect(response.body.errors[0].message).toContain("UNTIL must be before 2200-01-01T00:00:00Z");
  });

  it("boundaries: startsAt, endsAt and reviewAt, in proposals and revisions, past and future", async () => {
    const p = await linkPair(t);
    const propose = (fields: Record<string, string>) =>
      t.http
        .post(boundaryPath(p.pairId))
        .set(p.inviter.auth)
        .send({ ...sampleBoundary, ...fields });
    expectOutOfRange(await propose({ startsAt: "1969-12-31T23:59:59Z" }), "body.startsAt");
    expectOutOfRange(await propose({ endsAt: FAR }), "body.endsAt");
    // The upper bound is exclusive.
    expectOutOfRange(await propose({ reviewAt: "2200-01-01T00:00:00Z" }), "body.reviewAt");
    await propose({ startsAt: "1970-01-01T00:00:00Z", endsAt: LAST_SECOND, reviewAt: LAST_SECOND }).expect(201);

    const agreed = await agreeBoundary(t, p.pairId, p.inviter, p.joiner);
    const revise = (fields: Record<string, string>) =>
      t.http
        .post(boundaryPath(p.pairId, agreed.id, "/revisions"))
        .set(p.joiner.auth)
        .send(fields);
    expectOutOfRange(await revise({ endsAt: FAR }), "body.endsAt");
    expectOutOfRange(await revise({ reviewAt: "0001-01-01T00:00:00Z" }), "body.reviewAt");
  });

  it("query filters: dueFrom and dueTo", async () => {
    const p = await linkPair(t);
    const list = (query: string) => t.http.get(`/v1/pairs/${p.pairId}/commitments?${query}`).set(p.inviter.auth);
    expectOutOfRange(await list("dueFrom=0001-01-01T00:00:00Z"), "querystring.dueFrom");
    expectOutOfRange(await list(`dueTo=${FAR}`), "querystring.dueTo");
    await list(`dueFrom=1970-01-01T00:00:00Z&dueTo=${LAST_SECOND}`).expect(200);
  });
});
