import { createHash, createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { HOUR } from "../helpers/clock.js";
import { createCommitment, step } from "../helpers/commitments.js";
import { linkPair } from "../helpers/pairs.js";
import type { SignedInUser } from "../helpers/users.js";

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t.close());

type Text = {
  commitmentId: string;
  n: number;
  field: string;
  text: string | null;
  salt: string | null;
  hash: string | null;
  authorId: string;
  reportNumber: number | null;
  outcome: string | null;
  erased: boolean;
};
type Event = { type: string; subjectId: string; payload: Record<string, unknown> };

const inHours = (hours: number) => new Date(t.clock.now().getTime() + hours * HOUR).toISOString();

async function textsOf(pairId: string, id: string, as: SignedInUser, query = ""): Promise<Text[]> {
  const response = await t.http.get(`/v1/pairs/${pairId}/commitments/${id}/texts${query}`).set(as.auth).expect(200);
  return response.body.data;
}

async function eventsOf(pairId: string, id: string, as: SignedInUser): Promise<Event[]> {
  return (await t.http.get(`/v1/pairs/${pairId}/events?subjectId=${id}&limit=100`).set(as.auth).expect(200)).body.data;
}

/** What anyone holding the text and its salt computes (README, "Words on record"). */
const hmac = (salt: string, text: string) =>
  createHmac("sha256", Buffer.from(salt, "base64url")).update(text, "utf8").digest("hex");

describe("words on record stay on record", () => {
  it("a revised report keeps the first note and the partner's dispute note, each with its report, readable by both", async () => {
    const { pairId, inviter: owner, joiner: partner } = await linkPair(t);
    const { id } = await createCommitment(t, pairId, owner, { title: "Home at 7", dueAt: inHours(5) });
    await step(t, pairId, owner, id, "report", { outcome: "kept", note: "Home 18:55" }).expect(200);
    await step(t, pairId, partner, id, "dispute", { note: "You came home at 23:40" }).expect(200);
    const revised = await step(t, pairId, owner, id, "report", { outcome: "missed" }).expect(200);
    // The commitment shows the report in force; the record shows every one.
    expect(revised.body).toMatchObject({ status: "reported", report: { outcome: "missed", note: null } });

    const texts = await textsOf(pairId, id, partner);
    expect(texts.map((x) => [x.n, x.field, x.text, x.authorId, x.reportNumber, x.outcome])).toEqual([
      [1, "title", "Home at 7", owner.id, null, null],
      [2, "reportNote", "Home 18:55", owner.id, 1, "kept"],
      [3, "disputeNote", "You came home at 23:40", partner.id, 1, null],
      [4, "reportNote", null, owner.id, 2, "missed"],
    ]);
    expect(await textsOf(pairId, id, owner)).toEqual(texts);
    expect(texts.every((x) => !x.erased)).toBe(true);
    // A report without a note is on record too, with nothing to hash.
    expect(texts[3]).toMatchObject({ salt: null, hash: null });

    // Each event carries the hash of its text, which the text and its salt reproduce; never the words.
    const events = await eventsOf(pairId, id, owner);
    const hashes = events.flatMap((e) => Object.values((e.payload.textHashes ?? {}) as Record<string, unknown>));
    expect(hashes).toEqual(texts.map((x) => x.hash));
    for (const x of texts) if (x.text !== null && x.salt) expect(hmac(x.salt, x.text)).toBe(x.hash);
    expect(events.find((e) => e.type === "commitment.disputed")?.payload.textHashes).toEqual({
      disputeNote: texts[2]?.hash,
    });
    const log = JSON.stringify(events);
    for (const words of ["Home at 7", "Home 18:55", "23:40"]) expect(log).not.toContain(words);
  });

  it("an edit while open adds a version of the title or details, and its event carries the new hashes", async () => {
    const { pairId, inviter: owner, joiner: partner } = await linkPair(t);
    const { id } = await createCommitment(t, pairId, owner, {
      title: "Home at 7",
      details: "Text me when you leave",
      dueAt: inHours(5),
    });
    const path = `/v1/pairs/${pairId}/commitments/${id}`;
    await t.http.patch(path).set(owner.auth).send({ title: "Home at 9" }).expect(200);
    await t.http.patch(path).set(owner.auth).send({ details: null, category: "time" }).expect(200);
    await t.http.patch(path).set(owner.auth).send({ category: "care" }).expect(200);
    // The same title again is no edit: no new version.
    await t.http.patch(path).set(owner.auth).send({ title: "Home at 9" }).expect(200);

    const texts = await textsOf(pairId, id, partner);
    expect(texts.map((x) => [x.field, x.text])).toEqual([
      ["title", "Home at 7"],
      ["details", "Text me when you leave"],
      ["title", "Home at 9"],
      ["details", null],
    ]);
    const events = await eventsOf(pairId, id, partner);
    expect(events.map((e) => [e.type, e.payload.fields ?? null, e.payload.textHashes ?? null])).toEqual([
      ["commitment.created", null, { title: texts[0]?.hash, details: texts[1]?.hash }],
      ["commitment.updated", ["title"], { title: texts[2]?.hash }],
      ["commitment.updated", ["details", "category"], { details: null }],
      ["commitment.updated", ["category"], null],
      ["commitment.updated", [], null],
    ]);
  });

  it("hashes are keyed by a salt of each text's own: equal words do not give equal hashes, nor a plain sha256", async () => {
    const { pairId, inviter: owner, joiner: partner } = await linkPair(t);
    const a = await createCommitment(t, pairId, owner, { title: "Yes", dueAt: inHours(5) });
    const b = await createCommitment(t, pairId, owner, { title: "Yes", dueAt: inHours(5) });
    const [ta] = await textsOf(pairId, a.id, partner);
    const [tb] = await textsOf(pairId, b.id, partner);
    expect(ta?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(ta?.salt).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(ta?.hash).not.toBe(tb?.hash);
    expect(ta?.hash).not.toBe(createHash("sha256").update("Yes").digest("hex"));
  });

  it("texts of series occurrences and accepted requests are on record from the start", async () => {
    const { pairId, inviter: owner, joiner: partner } = await linkPair(t);
    const first = await createCommitment(t, pairId, owner, {
      title: "Walk the dog",
      dueAt: inHours(2),
      recurrence: { rrule: "FREQ=DAILY;COUNT=2" },
    });
    expect((await textsOf(pairId, first.id, partner)).map((x) => [x.field, x.text])).toEqual([
      ["title", "Walk the dog"],
    ]);
    const asked = await t.http
      .post(`/v1/pairs/${pairId}/requests`)
      .set(partner.auth)
      .send({ title: "Call at lunch", details: "Just to hear you", dueAt: inHours(5) })
      .expect(201);
    const accepted = await t.http
      .post(`/v1/pairs/${pairId}/requests/${asked.body.id}/accept`)
      .set(owner.auth)
      .set("If-Match", `"${asked.body.version}"`)
      .expect(200);
    const texts = await textsOf(pairId, accepted.body.commitment.id, owner);
    expect(texts.map((x) => [x.field, x.text, x.authorId])).toEqual([
      ["title", "Call at lunch", owner.id],
      ["details", "Just to hear you", owner.id],
    ]);
    const [created] = await eventsOf(pairId, accepted.body.commitment.id, owner);
    expect(created?.payload.textHashes).toEqual({ title: texts[0]?.hash, details: texts[1]?.hash });
  });

  it("pages in the order written, with an ETag; outsiders and unknown ids get 404, bad queries 400", async () => {
    const { pairId, inviter: owner, joiner: partner } = await linkPair(t);
    const { id } = await createCommitment(t, pairId, owner, { title: "One", dueAt: inHours(5) });
    for (const title of ["Two", "Three"]) {
      await t.http.patch(`/v1/pairs/${pairId}/commitments/${id}`).set(owner.auth).send({ title }).expect(200);
    }
    const path = `/v1/pairs/${pairId}/commitments/${id}/texts`;
    const page1 = await t.http.get(`${path}?limit=2`).set(partner.auth).expect(200);
    expect(page1.body.data.map((x: Text) => x.text)).toEqual(["One", "Two"]);
    const page2 = await t.http.get(`${path}?limit=2&cursor=${page1.body.nextCursor}`).set(partner.auth).expect(200);
    expect(page2.body.data.map((x: Text) => x.text)).toEqual(["Three"]);
    expect(page2.body.nextCursor).toBeNull();

    const whole = await t.http.get(path).set(partner.auth).expect(200);
    const current = await t.http.get(`/v1/pairs/${pairId}/commitments/${id}`).set(partner.auth).expect(200);
    expect(whole.headers.etag).toBe(current.headers.etag);
    await t.http
      .get(path)
      .set(partner.auth)
      .set("If-None-Match", whole.headers.etag ?? "")
      .expect(304);

    const other = await linkPair(t);
    await t.http.get(path).set(other.inviter.auth).expect(404);
    await t.http.get(`/v1/pairs/${other.pairId}/commitments/${id}/texts`).set(other.inviter.auth).expect(404);
    await t.http.get(`/v1/pairs/${pairId}/commitments/not-an-id/texts`).set(owner.auth).expect(404);
    await t.http.get(`/v1/pairs/${pairId}/commitments/${other.pairId}/texts`).set(owner.auth).expect(404);
    for (const query of ["limit=0", "cursor=nope", "colour=red"]) {
      const bad = await t.http.get(`${path}?${query}`).set(owner.auth).expect(400);
      expect(bad.body.code).toBe("VALIDATION_FAILED");
    }
  });
});
