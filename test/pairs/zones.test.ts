import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { HOUR } from "../helpers/clock.js";
import { createCommitment, trend } from "../helpers/commitments.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { linkPair } from "../helpers/pairs.js";
import { isEvent, listen, openStream, type StreamClient, ticketFor } from "../helpers/stream.js";
import { registerUser, type SignedInUser } from "../helpers/users.js";

let t: TestApp;
let base: string;
const clients: StreamClient[] = [];
beforeAll(async () => {
  t = await buildTestApp({ passwordHasher: fastHasher });
  base = await listen(t);
});
afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  await t.close();
});

type Member = { userId: string; displayName: string; timeZone: string | null };
type Event = { seq: number; type: string; payload: Record<string, unknown> };

const patchMe = (user: SignedInUser, body: object) => t.http.patch("/v1/me").set(user.auth).send(body).expect(200);

async function membersSeenBy(user: SignedInUser, pairId: string): Promise<Member[]> {
  const pair = await t.http.get(`/v1/pairs/${pairId}`).set(user.auth).expect(200);
  return pair.body.members.map((m: Member) => ({ userId: m.userId, displayName: m.displayName, timeZone: m.timeZone }));
}

async function eventsOf(pairId: string, as: SignedInUser): Promise<Event[]> {
  return (await t.http.get(`/v1/pairs/${pairId}/events?limit=100`).set(as.auth).expect(200)).body.data;
}

describe("no tracking through the time zone", () => {
  it("a zone is not shown, streamed or named in member.updated unless its owner shares it", async () => {
    const alex = await registerUser(t, { displayName: "Alex", timeZone: "Europe/Paris" });
    const blake = await registerUser(t, { displayName: "Blake", timeZone: "Europe/Paris" });
    const { pairId } = await linkPair(t, alex, blake);
    expect((await t.http.get("/v1/me").set(alex.auth).expect(200)).body.shareTimeZone).toBe(false);
    const stream = await openStream(base, `ticket=${await ticketFor(t, blake)}`);
    clients.push(stream);
    await stream.waitFor((m) => m.type === "hello");

    // A move the partner is not told about: no event, no frame.
    await patchMe(alex, { timeZone: "Asia/Tokyo" });
    await patchMe(alex, { displayName: "Alex R", timeZone: "America/New_York" });
    const frame = await stream.waitFor((m) => m.type === "event");
    expect((frame.event as Event).payload).toEqual({ userId: alex.id, fields: ["displayName"] });
    expect((await eventsOf(pairId, blake)).map((e) => [e.type, e.payload.fields ?? null])).toEqual([
      ["pair.linked", null],
      ["member.updated", ["displayName"]],
    ]);
    expect(await membersSeenBy(blake, pairId)).toEqual([
      { userId: alex.id, displayName: "Alex R", timeZone: null },
      { userId: blake.id, displayName: "Blake", timeZone: null },
    ]);

    // Sharing turned on, a shared move, sharing turned off: each changes what the partner sees.
    expect((await patchMe(alex, { shareTimeZone: true })).body).toMatchObject({
      shareTimeZone: true,
      timeZone: "America/New_York",
    });
    expect((await membersSeenBy(blake, pairId))[0]?.timeZone).toBe("America/New_York");
    await patchMe(alex, { timeZone: "Europe/Lisbon" });
    expect((await membersSeenBy(blake, pairId))[0]?.timeZone).toBe("Europe/Lisbon");
    await patchMe(alex, { shareTimeZone: false });
    expect((await membersSeenBy(alex, pairId))[0]?.timeZone).toBeNull();
    const events = await eventsOf(pairId, blake);
    expect(events.slice(2).map((e) => e.payload)).toEqual([
      { userId: alex.id, fields: ["timeZone"] },
      { userId: alex.id, fields: ["timeZone"] },
      { userId: alex.id, fields: ["timeZone"] },
    ]);
    await stream.waitFor(isEvent(events.at(-1)?.seq ?? 0));
    await t.http.patch("/v1/me").set(alex.auth).send({ shareTimeZone: "yes" }).expect(400);
  });

  it("a series shows its zone to its owner, and to the partner only while the owner shares theirs", async () => {
    const alex = await registerUser(t, { timeZone: "Europe/London" });
    const { pairId, joiner: blake } = await linkPair(t, alex);
    const due = new Date(t.clock.now().getTime() + 2 * HOUR).toISOString();
    const first = await createCommitment(t, pairId, alex, { dueAt: due, recurrence: { rrule: "FREQ=DAILY;COUNT=3" } });
    const explicit = await createCommitment(t, pairId, alex, {
      dueAt: due,
      recurrence: { rrule: "FREQ=DAILY;COUNT=3", timeZone: "America/New_York" },
    });
    const zoneOf = async (seriesId: string, as: SignedInUser) =>
      (await t.http.get(`/v1/pairs/${pairId}/series/${seriesId}`).set(as.auth).expect(200)).body.timeZone;
    const seriesIds = [first, explicit].map((c) => (c as unknown as { seriesId: string }).seriesId);

    expect(await zoneOf(seriesIds[0] ?? "", alex)).toBe("Europe/London");
    expect(await zoneOf(seriesIds[1] ?? "", alex)).toBe("America/New_York");
    expect(await zoneOf(seriesIds[0] ?? "", blake)).toBeNull();
    expect(await zoneOf(seriesIds[1] ?? "", blake)).toBeNull();
    // Nor does the event (forever in the log) or the partner's export name it.
    const created = (await eventsOf(pairId, blake)).filter((e) => e.type === "series.created");
    expect(created.map((e) => Object.keys(e.payload).sort())).toEqual([
      ["ownerId", "rrule", "seriesId"],
      ["ownerId", "rrule", "seriesId"],
    ]);
    const exported = (await t.http.get("/v1/me/export").set(blake.auth).expect(200)).body;
    expect(exported.pairs[0].series.map((s: { timeZone: string | null }) => s.timeZone)).toEqual([null, null]);
    const own = (await t.http.get("/v1/me/export").set(alex.auth).expect(200)).body;
    expect(own.pairs[0].series.map((s: { timeZone: string | null }) => s.timeZone)).toEqual([
      "Europe/London",
      "America/New_York",
    ]);

    await patchMe(alex, { shareTimeZone: true });
    expect(await zoneOf(seriesIds[0] ?? "", blake)).toBe("Europe/London");
    expect(await zoneOf(seriesIds[1] ?? "", blake)).toBe("America/New_York");
  });

  it("after the pair ends, the former partner sees names and zones as they were at the end", async () => {
    const alex = await registerUser(t, { displayName: "Alex", timeZone: "Asia/Tokyo" });
    const blake = await registerUser(t, { displayName: "Blake", timeZone: "Europe/Paris" });
    const { pairId } = await linkPair(t, alex, blake);
    await patchMe(alex, { shareTimeZone: true });
    await t.http.post(`/v1/pairs/${pairId}/leave`).set(blake.auth).expect(200);
    const atEnd = [
      { userId: alex.id, displayName: "Alex", timeZone: "Asia/Tokyo" },
      { userId: blake.id, displayName: "Blake", timeZone: null },
    ];
    expect(await membersSeenBy(blake, pairId)).toEqual(atEnd);

    await patchMe(alex, { displayName: "Alex in a new life", timeZone: "America/Los_Angeles" });
    await patchMe(blake, { displayName: "Blake B", shareTimeZone: true });
    expect(await membersSeenBy(blake, pairId)).toEqual(atEnd);
    expect(await membersSeenBy(alex, pairId)).toEqual(atEnd);
    const listed = await t.http.get("/v1/pairs").set(blake.auth).expect(200);
    expect(listed.body.data[0].members.map((m: Member) => [m.displayName, m.timeZone])).toEqual([
      ["Alex", "Asia/Tokyo"],
      ["Blake", null],
    ]);
    // Nothing is appended to an ended pair's log.
    expect((await eventsOf(pairId, blake)).at(-1)?.type).toBe("pair.ended");

    // A new pair shows the live profile again.
    const { pairId: next } = await linkPair(t, alex);
    expect((await membersSeenBy(alex, next))[0]).toEqual({
      userId: alex.id,
      displayName: "Alex in a new life",
      timeZone: "America/Los_Angeles",
    });
  });

  it("the trend of an ended pair keeps each member's weeks in the zone of the end", async () => {
    // Monday 05:00 UTC: already Monday evening in Kiritimati (UTC+14), still Sunday in Pago Pago (UTC−11).
    t.clock.set("2026-03-02T05:00:00Z");
    const alex = await registerUser(t, { timeZone: "Pacific/Kiritimati" });
    const { pairId, joiner: blake } = await linkPair(t, alex);
    const lastWeekOf = async (userId: string) =>
      (await trend(t, pairId, blake, 2)).members.find((m) => m.userId === userId)?.points.at(-1)?.weekStart;
    expect(await lastWeekOf(alex.id)).toBe("2026-03-02");
    await t.http.post(`/v1/pairs/${pairId}/leave`).set(alex.auth).expect(200);
    await patchMe(alex, { timeZone: "Pacific/Pago_Pago" });
    expect(await lastWeekOf(alex.id)).toBe("2026-03-02");
    expect(await trend(t, pairId, alex, 2)).toEqual(await trend(t, pairId, blake, 2));
  });

  it("a deleted account's frozen name and shared zone leave the former partner's view", async () => {
    const alex = await registerUser(t, { displayName: "Alexandrina", timeZone: "Asia/Tokyo" });
    const { pairId, joiner: blake } = await linkPair(t, alex);
    await patchMe(alex, { shareTimeZone: true });
    await t.http.post(`/v1/pairs/${pairId}/leave`).set(blake.auth).expect(200);
    expect((await membersSeenBy(blake, pairId))[0]).toMatchObject({
      displayName: "Alexandrina",
      timeZone: "Asia/Tokyo",
    });
    await t.http.delete("/v1/me").set(alex.auth).send({ password: alex.password }).expect(204);
    expect((await membersSeenBy(blake, pairId))[0]).toEqual({
      userId: alex.id,
      displayName: "former member",
      timeZone: null,
    });
    const { rows } = await t.database.pool.query(
      "SELECT count(*)::int AS n FROM pair_members WHERE display_name_at_end = $1",
      ["Alexandrina"],
    );
    expect(rows[0].n).toBe(0);
  });
});
