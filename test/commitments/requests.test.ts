import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { HOUR } from "../helpers/clock.js";
import { linkPair } from "../helpers/pairs.js";
import { advanceClock } from "../helpers/users.js";

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t.close());

const inHours = (hours: number) => new Date(t.clock.now().getTime() + hours * HOUR).toISOString();

async function setup() {
  const p = await linkPair(t);
  // The joiner asks; the inviter is asked.
  return { pairId: p.pairId, asker: p.joiner, asked: p.inviter };
}

describe("requests", () => {
  it("accepted: a commitment owned by the one asked is created with it, linked both ways", async () => {
    const { pairId, asker, asked } = await setup();
    const created = await t.http
      .post(`/v1/pairs/${pairId}/requests`)
      .set(asker.auth)
      .send({ title: "Can you be home by 7?", dueAt: inHours(8), category: "time" })
      .expect(201);
    expect(created.body).toMatchObject({
      requesterId: asker.id,
      ownerId: asked.id,
      status: "pending",
      commitmentId: null,
      graceMinutes: 15,
    });
    expect(
      (await t.http.post(`/v1/pairs/${pairId}/requests/${created.body.id}/accept`).set(asker.auth).expect(409)).body
        .code,
    ).toBe("OWNER_ONLY");
    const accepted = await t.http
      .post(`/v1/pairs/${pairId}/requests/${created.body.id}/accept`)
      .set(asked.auth)
      .expect(200);
    expect(accepted.body.request).toMatchObject({ status: "accepted", commitmentId: accepted.body.commitment.id });
    expect(accepted.body.commitment).toMatchObject({
      ownerId: asked.id,
      title: "Can you be home by 7?",
      dueAt: created.body.dueAt,
      requestId: created.body.id,
      status: "open",
    });
    const again = await t.http
      .post(`/v1/pairs/${pairId}/requests/${created.body.id}/decline`)
      .set(asked.auth)
      .expect(409);
    expect(again.body.code).toBe("REQUEST_NOT_PENDING");
    const events = await t.http.get(`/v1/pairs/${pairId}/events?after=1`).set(asker.auth).expect(200);
    expect(events.body.data.map((e: { type: string }) => e.type)).toEqual([
      "request.created",
      "commitment.created",
      "request.accepted",
    ]);
  });

  it("declined with a reason, or cancelled by the asker; neither creates anything", async () => {
    const { pairId, asker, asked } = await setup();
    const ask = (title: string) =>
      t.http
        .post(`/v1/pairs/${pairId}/requests`)
        .set(asker.auth)
        .send({ title, dueAt: inHours(5) })
        .expect(201);
    const first = await ask("Text me when you land");
    const declined = await t.http
      .post(`/v1/pairs/${pairId}/requests/${first.body.id}/decline`)
      .set(asked.auth)
      .send({ reason: "My phone will be off" })
      .expect(200);
    expect(declined.body).toMatchObject({ status: "declined", reason: "My phone will be off", commitmentId: null });
    const second = await ask("Call before dinner");
    expect(
      (await t.http.post(`/v1/pairs/${pairId}/requests/${second.body.id}/cancel`).set(asked.auth).expect(409)).body
        .code,
    ).toBe("REQUESTER_ONLY");
    await t.http.post(`/v1/pairs/${pairId}/requests/${second.body.id}/cancel`).set(asker.auth).expect(200);
    const plain = await ask("No reason given");
    await t.http.post(`/v1/pairs/${pairId}/requests/${plain.body.id}/decline`).set(asked.auth).expect(200);
    const commitments = await t.http.get(`/v1/pairs/${pairId}/commitments`).set(asked.auth).expect(200);
    expect(commitments.body.data).toHaveLength(0);
    const list = await t.http.get(`/v1/pairs/${pairId}/requests?status=declined`).set(asker.auth).expect(200);
    expect(list.body.data.map((r: { id: string }) => r.id)).toEqual([plain.body.id, first.body.id]);
    const page = await t.http.get(`/v1/pairs/${pairId}/requests?limit=2`).set(asker.auth).expect(200);
    expect(page.body.data).toHaveLength(2);
    const rest = await t.http
      .get(`/v1/pairs/${pairId}/requests?limit=2&cursor=${page.body.nextCursor}`)
      .set(asker.auth);
    expect(rest.body).toMatchObject({ nextCursor: null });
    expect(rest.body.data[0].id).toBe(first.body.id);
  });

  it("expire at their due time, by the sweep; accepting later answers 409", async () => {
    const { pairId, asker, asked } = await setup();
    const created = await t.http
      .post(`/v1/pairs/${pairId}/requests`)
      .set(asker.auth)
      .send({ title: "Pick up the kids", dueAt: inHours(2) })
      .expect(201);
    await advanceClock(t, 2 * HOUR, asker, asked);
    const late = await t.http
      .post(`/v1/pairs/${pairId}/requests/${created.body.id}/accept`)
      .set(asked.auth)
      .expect(409);
    expect(late.body.code).toBe("REQUEST_EXPIRED");
    await t.app.sweeper.runOnce();
    const read = await t.http.get(`/v1/pairs/${pairId}/requests/${created.body.id}`).set(asked.auth).expect(200);
    expect(read.body.status).toBe("expired");
    const events = await t.http.get(`/v1/pairs/${pairId}/events?types=request.expired`).set(asked.auth);
    expect(events.body.data).toHaveLength(1);
    expect(events.body.data[0].actorId).toBeNull();
  });

  it("validate like commitments and take no recurrence", async () => {
    const { pairId, asker } = await setup();
    const post = (body: object) => t.http.post(`/v1/pairs/${pairId}/requests`).set(asker.auth).send(body);
    await post({ title: "Past", dueAt: inHours(-1) }).expect(400);
    await post({ title: "Repeat", dueAt: inHours(1), recurrence: { rrule: "FREQ=DAILY" } }).expect(400);
    await post({ title: "", dueAt: inHours(1) }).expect(400);
  });
});

describe("leaving the pair", () => {
  it("withdraws open commitments, cancels proposals and requests, in the leave transaction", async () => {
    const p = await linkPair(t);
    const [owner, partner] = [p.inviter, p.joiner];
    const mk = async (dueIn: number) =>
      (
        await t.http
          .post(`/v1/pairs/${p.pairId}/commitments`)
          .set(owner.auth)
          .send({ title: "Walk the dog", dueAt: inHours(dueIn) })
          .expect(201)
      ).body.id as string;
    const open = await mk(3);
    const proposed = await mk(4);
    const reported = await mk(5);
    await t.http
      .post(`/v1/pairs/${p.pairId}/commitments/${proposed}/reschedule`)
      .set(owner.auth)
      .send({ dueAt: inHours(9) });
    await t.http.post(`/v1/pairs/${p.pairId}/commitments/${reported}/report`).set(owner.auth).send({ outcome: "kept" });
    const request = await t.http
      .post(`/v1/pairs/${p.pairId}/requests`)
      .set(partner.auth)
      .send({ title: "Dinner Friday", dueAt: inHours(30) })
      .expect(201);
    const before = (await t.http.get(`/v1/pairs/${p.pairId}/events`).set(owner.auth)).body.data.length;

    await t.http.post(`/v1/pairs/${p.pairId}/leave`).set(partner.auth).expect(200);

    const get = async (id: string) =>
      (await t.http.get(`/v1/pairs/${p.pairId}/commitments/${id}`).set(owner.auth).expect(200)).body;
    expect(await get(open)).toMatchObject({ status: "withdrawn", withdrawal: { cause: "pair_ended", reason: null } });
    expect(await get(proposed)).toMatchObject({ status: "withdrawn", pendingReschedule: null });
    // An unconfirmed report stays as it is.
    expect(await get(reported)).toMatchObject({ status: "reported", confirmation: { state: "pending" } });
    const req = await t.http.get(`/v1/pairs/${p.pairId}/requests/${request.body.id}`).set(partner.auth).expect(200);
    expect(req.body.status).toBe("cancelled");

    const events = (await t.http.get(`/v1/pairs/${p.pairId}/events?after=${before}`).set(owner.auth)).body.data;
    expect(events.map((e: { type: string; subjectId: string }) => [e.type, e.subjectId])).toEqual([
      ["request.cancelled", request.body.id],
      ["commitment.withdrawn", open],
      ["commitment.reschedule_cancelled", proposed],
      ["commitment.withdrawn", proposed],
      ["pair.ended", p.pairId],
    ]);
    expect(events.every((e: { actorId: string }) => e.actorId === partner.id)).toBe(true);

    // Read-only now: every write answers PAIR_ENDED, reads still work.
    const write = await t.http
      .post(`/v1/pairs/${p.pairId}/commitments/${reported}/confirm`)
      .set(partner.auth)
      .expect(409);
    expect(write.body.code).toBe("PAIR_ENDED");
    const create = await t.http
      .post(`/v1/pairs/${p.pairId}/commitments`)
      .set(owner.auth)
      .send({ title: "After", dueAt: inHours(3) })
      .expect(409);
    expect(create.body.code).toBe("PAIR_ENDED");
    // The sweep ignores ended pairs: the unconfirmed report is never auto-confirmed.
    await advanceClock(t, 100 * HOUR, owner, partner);
    await t.app.sweeper.runOnce();
    expect((await get(reported)).status).toBe("reported");
    expect((await t.http.get(`/v1/pairs/${p.pairId}/verify`).set(owner.auth).expect(200)).body.valid).toBe(true);
  });
});
