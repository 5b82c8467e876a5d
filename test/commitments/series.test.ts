import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { DAY } from "../helpers/clock.js";
import { linkPair } from "../helpers/pairs.js";
import { advanceClock, registerUser, type SignedInUser } from "../helpers/users.js";

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t.close());

type Occurrence = { id: string; dueAt: string; seriesId: string; status: string };

async function pairIn(timeZone: string) {
  const owner = await registerUser(t, { timeZone });
  const p = await linkPair(t, owner);
  return { pairId: p.pairId, owner, partner: p.joiner };
}

async function occurrencesOf(pairId: string, as: SignedInUser, seriesId: string): Promise<Occurrence[]> {
  const response = await t.http.get(`/v1/pairs/${pairId}/commitments?order=asc&limit=100`).set(as.auth).expect(200);
  return response.body.data.filter((c: Occurrence) => c.seriesId === seriesId);
}

describe("a weekday series across daylight-saving changes", () => {
  it("Europe/London: 19:00 local is 19:00Z in winter and 18:00Z in summer, the owner's zone by default", async () => {
    t.clock.set("2026-03-20T12:00:00Z");
    const { pairId, owner, partner } = await pairIn("Europe/London");
    const first = await t.http
      .post(`/v1/pairs/${pairId}/commitments`)
      .set(owner.auth)
      .send({
        title: "Home by 7",
        dueAt: "2026-03-23T19:00:00Z",
        category: "time",
        recurrence: { rrule: "RRULE:freq=weekly;byday=MO,TU,WE,TH,FR" },
      })
      .expect(201);
    expect(first.body).toMatchObject({ dueAt: "2026-03-23T19:00:00.000Z", status: "open", title: "Home by 7" });
    const seriesId = first.body.seriesId as string;
    // The owner reads the zone; the partner only if the owner shares it (test/pairs/zones.test.ts).
    const series = await t.http.get(`/v1/pairs/${pairId}/series/${seriesId}`).set(owner.auth).expect(200);
    expect(series.body).toMatchObject({
      ownerId: owner.id,
      rrule: "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
      timeZone: "Europe/London",
      dtstart: "2026-03-23T19:00:00.000Z",
      status: "active",
    });
    const seen = await t.http.get(`/v1/pairs/${pairId}/series/${seriesId}`).set(partner.auth).expect(200);
    expect(seen.body).toEqual({ ...series.body, timeZone: null });
    // Within the 14-day horizon (until 2026-04-03T12:00Z), created with the series.
    expect((await occurrencesOf(pairId, owner, seriesId)).map((o) => o.dueAt)).toEqual([
      "2026-03-23T19:00:00.000Z",
      "2026-03-24T19:00:00.000Z",
      "2026-03-25T19:00:00.000Z",
      "2026-03-26T19:00:00.000Z",
      "2026-03-27T19:00:00.000Z",
      "2026-03-30T18:00:00.000Z",
      "2026-03-31T18:00:00.000Z",
      "2026-04-01T18:00:00.000Z",
      "2026-04-02T18:00:00.000Z",
    ]);
    // The sweep extends the horizon as time passes, with system events.
    await advanceClock(t, 3 * DAY, owner, partner);
    await t.app.sweeper.runOnce();
    const later = (await occurrencesOf(pairId, owner, seriesId)).map((o) => o.dueAt);
    // now + 14 days is 2026-04-06T12:00Z.
    expect(later.slice(9)).toEqual(["2026-04-03T18:00:00.000Z"]);
    const events = await t.http
      .get(`/v1/pairs/${pairId}/events?types=series.created,commitment.created&limit=100`)
      .set(owner.auth);
    const types = events.body.data.map((e: { type: string; actorId: string | null }) => [e.type, e.actorId === null]);
    expect(types[0]).toEqual(["series.created", false]);
    expect(types.slice(1, 10).every(([, system]: [string, boolean]) => !system)).toBe(true);
    expect(types.slice(10).every(([, system]: [string, boolean]) => system)).toBe(true);
  });

  it("America/New_York, given explicitly: 19:00 EST is 00:00Z the next day, 19:00 EDT is 23:00Z", async () => {
    t.clock.set("2026-03-02T12:00:00Z");
    const { pairId, owner } = await pairIn("Asia/Tokyo");
    const first = await t.http
      .post(`/v1/pairs/${pairId}/commitments`)
      .set(owner.auth)
      .send({
        title: "Call home",
        dueAt: "2026-03-03T00:00:00Z",
        recurrence: { rrule: "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", timeZone: "America/New_York" },
      })
      .expect(201);
    const dueAts = (await occurrencesOf(pairId, owner, first.body.seriesId)).map((o) => o.dueAt);
    expect(dueAts).toEqual([
      "2026-03-03T00:00:00.000Z",
      "2026-03-04T00:00:00.000Z",
      "2026-03-05T00:00:00.000Z",
      "2026-03-06T00:00:00.000Z",
      "2026-03-07T00:00:00.000Z",
      "2026-03-09T23:00:00.000Z",
      "2026-03-10T23:00:00.000Z",
      "2026-03-11T23:00:00.000Z",
      "2026-03-12T23:00:00.000Z",
      "2026-03-13T23:00:00.000Z",
    ]);
  });

  it("a local time that does not exist moves forward; an ambiguous one takes the first", async () => {
    t.clock.set("2026-03-27T12:00:00Z");
    const { pairId, owner } = await pairIn("Europe/London");
    const spring = await t.http
      .post(`/v1/pairs/${pairId}/commitments`)
      .set(owner.auth)
      .send({ title: "Night check-in", dueAt: "2026-03-28T01:30:00Z", recurrence: { rrule: "FREQ=DAILY;COUNT=3" } })
      .expect(201);
    expect((await occurrencesOf(pairId, owner, spring.body.seriesId)).map((o) => o.dueAt)).toEqual([
      "2026-03-28T01:30:00.000Z",
      "2026-03-29T01:30:00.000Z", // 01:30 does not exist that night: 02:30 BST
      "2026-03-30T00:30:00.000Z",
    ]);
    t.clock.set("2026-10-23T12:00:00Z");
    const other = await pairIn("Europe/London");
    const autumn = await t.http
      .post(`/v1/pairs/${other.pairId}/commitments`)
      .set(other.owner.auth)
      .send({ title: "Night check-in", dueAt: "2026-10-24T00:30:00Z", recurrence: { rrule: "FREQ=DAILY;COUNT=3" } })
      .expect(201);
    expect((await occurrencesOf(other.pairId, other.owner, autumn.body.seriesId)).map((o) => o.dueAt)).toEqual([
      "2026-10-24T00:30:00.000Z",
      "2026-10-25T00:30:00.000Z", // 01:30 happens twice: the first, still BST
      "2026-10-26T01:30:00.000Z",
    ]);
  });
});

describe("series rules", () => {
  it("rejects rules outside the supported subset with a clear 400", async () => {
    t.clock.set("2026-05-01T12:00:00Z");
    const { pairId, owner } = await pairIn("Europe/Paris");
    for (const rrule of [
      "FREQ=HOURLY",
      "FREQ=DAILY;BYSETPOS=1",
      "DTSTART:20260101T000000Z",
      "FREQ=DAILY;COUNT=0",
      "",
    ]) {
      const response = await t.http
        .post(`/v1/pairs/${pairId}/commitments`)
        .set(owner.auth)
        .send({ title: "Bad", dueAt: "2026-05-02T10:00:00Z", recurrence: { rrule } })
        .expect(400);
      expect(response.body.errors[0].path).toMatch(/^body\.recurrence/);
    }
    await t.http
      .post(`/v1/pairs/${pairId}/commitments`)
      .set(owner.auth)
      .send({ title: "Zone", dueAt: "2026-05-02T10:00:00Z", recurrence: { rrule: "FREQ=DAILY", timeZone: "+02:00" } })
      .expect(400);
  });

  it("ending a series (owner only) withdraws its future open occurrences, once", async () => {
    t.clock.set("2026-06-01T08:00:00Z");
    const { pairId, owner, partner } = await pairIn("Europe/Berlin");
    const first = await t.http
      .post(`/v1/pairs/${pairId}/commitments`)
      .set(owner.auth)
      .send({ title: "Gym", dueAt: "2026-06-01T16:00:00Z", recurrence: { rrule: "FREQ=DAILY" } })
      .expect(201);
    const seriesId = first.body.seriesId as string;
    await t.http
      .post(`/v1/pairs/${pairId}/commitments/${first.body.id}/report`)
      .set(owner.auth)
      .send({ outcome: "kept" });
    await advanceClock(t, DAY, owner, partner);
    const refused = await t.http.delete(`/v1/pairs/${pairId}/series/${seriesId}`).set(partner.auth).expect(409);
    expect(refused.body.code).toBe("OWNER_ONLY");
    const ended = await t.http.delete(`/v1/pairs/${pairId}/series/${seriesId}`).set(owner.auth).expect(200);
    expect(ended.body).toMatchObject({ status: "ended", endedAt: t.clock.now().toISOString() });
    const all = await occurrencesOf(pairId, owner, seriesId);
    expect(all[0]?.status).toBe("reported");
    expect(all.slice(1).every((o) => o.status === "withdrawn")).toBe(true);
    const withdrawn = await t.http.get(`/v1/pairs/${pairId}/commitments/${all[1]?.id}`).set(owner.auth).expect(200);
    expect(withdrawn.body.withdrawal).toMatchObject({ cause: "series_ended" });
    expect((await t.http.delete(`/v1/pairs/${pairId}/series/${seriesId}`).set(owner.auth).expect(409)).body.code).toBe(
      "SERIES_ENDED",
    );
    // No more occurrences are made for an ended series.
    await advanceClock(t, 20 * DAY, owner, partner);
    await t.app.sweeper.runOnce();
    expect(await occurrencesOf(pairId, owner, seriesId)).toHaveLength(all.length);
    await t.http.get(`/v1/pairs/${pairId}/series/not-a-uuid`).set(owner.auth).expect(404);
    expect((await t.http.get(`/v1/pairs/${pairId}/verify`).set(owner.auth)).body.valid).toBe(true);
  });

  it("leaving the pair ends its series", async () => {
    t.clock.set("2026-07-01T08:00:00Z");
    const { pairId, owner, partner } = await pairIn("UTC");
    const first = await t.http
      .post(`/v1/pairs/${pairId}/commitments`)
      .set(owner.auth)
      .send({ title: "Walk", dueAt: "2026-07-01T18:00:00Z", recurrence: { rrule: "FREQ=WEEKLY;COUNT=4" } })
      .expect(201);
    await t.http.post(`/v1/pairs/${pairId}/leave`).set(partner.auth).expect(200);
    const series = await t.http.get(`/v1/pairs/${pairId}/series/${first.body.seriesId}`).set(owner.auth).expect(200);
    expect(series.body.status).toBe("ended");
    const events = await t.http.get(`/v1/pairs/${pairId}/events?types=series.ended`).set(owner.auth);
    expect(events.body.data[0].payload).toMatchObject({ cause: "pair_ended" });
  });
});
