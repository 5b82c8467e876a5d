import { compactVerify, createLocalJWKSet } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXPORTS_PER_HOUR } from "../../src/modules/account/index.js";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { agreeBoundary, boundaryPath } from "../helpers/boundaries.js";
import { GENESIS, recomputeHash, type TimelineEvent } from "../helpers/chain.js";
import { HOUR } from "../helpers/clock.js";
import { createCommitment, step } from "../helpers/commitments.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { linkPair } from "../helpers/pairs.js";
import { advanceClock, registerUser, type SignedInUser } from "../helpers/users.js";

let t: TestApp;
beforeAll(async () => {
  // A long horizon lets one request create hundreds of occurrences: a long history, cheaply.
  t = await buildTestApp({ passwordHasher: fastHasher, env: { KEPT_SERIES_HORIZON_DAYS: "365" } });
});
afterAll(() => t.close());

type ExportedEvent = TimelineEvent;
type ExportedPair = {
  pair: { id: string; status: string; members: { userId: string; displayName: string }[] };
  checkpoint: { pairId: string; seq: number; hash: string; issuedAt: string; jws: string };
  commitments: { id: string; title: string }[];
  commitmentTexts: { commitmentId: string; n: number; field: string; text: string | null; hash: string | null }[];
  series: { id: string }[];
  requests: { id: string }[];
  boundaries: { id: string; versions: { version: number; text: string }[] }[];
  events: ExportedEvent[];
};
type ExportDocument = {
  format: string;
  formatVersion: number;
  exportedAt: string;
  user: Record<string, unknown>;
  publicKeys: { keys: Record<string, unknown>[] };
  pairs: ExportedPair[];
};

const inHours = (hours: number) => new Date(t.clock.now().getTime() + hours * HOUR).toISOString();

async function exportOf(user: SignedInUser) {
  const response = await t.http.get("/v1/me/export").set(user.auth).expect(200);
  return { response, document: JSON.parse(response.text) as ExportDocument };
}

/** The chain recomputed from the exported events alone, as a counsellor's tool would. */
function chainHolds(events: ExportedEvent[]): boolean {
  let prevHash = GENESIS;
  return events.every((event, index) => {
    const holds = event.seq === index + 1 && event.prevHash === prevHash && event.hash === recomputeHash(event);
    prevHash = event.hash;
    return holds;
  });
}

describe("exporting my data", () => {
  it("is one streamed JSON document with every pair, every resource and every event, whose hashes verify", async () => {
    const ana = await registerUser(t, { displayName: "Ana" });
    const ben = await registerUser(t, { displayName: "Ben" });
    const cleo = await registerUser(t, { displayName: "Cleo" });
    // Ana's first pair, ended, then the one she is in.
    const first = await linkPair(t, ana, cleo);
    const old = await createCommitment(t, first.pairId, cleo, { title: "Old times", dueAt: inHours(3) });
    await t.http.post(`/v1/pairs/${first.pairId}/leave`).set(cleo.auth).expect(200);
    const { pairId } = await linkPair(t, ben, ana);

    // A long history: two daily series of 300 occurrences each (600 commitments, 600+ events).
    for (const title of ["Walk the dog", "Call mum"]) {
      await createCommitment(t, pairId, ana, {
        title,
        dueAt: inHours(2),
        recurrence: { rrule: "FREQ=DAILY;COUNT=300" },
      });
    }
    const reported = await createCommitment(t, pairId, ben, { title: "Home at 7", dueAt: inHours(5) });
    await step(t, pairId, ben, reported.id, "report", { outcome: "kept", note: "Home 18:50" }).expect(200);
    await step(t, pairId, ana, reported.id, "dispute", { note: "It was 20:10" }).expect(200);
    await step(t, pairId, ben, reported.id, "report", { outcome: "missed", note: "You are right" }).expect(200);
    await t.http
      .post(`/v1/pairs/${pairId}/requests`)
      .set(ben.auth)
      .send({ title: "Dinner Friday?", dueAt: inHours(30) })
      .expect(201);
    const boundary = await agreeBoundary(t, pairId, ana, ben, { title: "Quiet hours", text: "Quiet after 23:00." });
    await t.http
      .post(boundaryPath(pairId, boundary.id, "/revisions"))
      .set(ben.auth)
      .send({ text: "Quiet after 22:00." })
      .expect(201);
    await t.http
      .post(boundaryPath(pairId, boundary.id, "/revisions/2/accept"))
      .set(ana.auth)
      .expect(200);

    const { response, document } = await exportOf(ana);
    expect(response.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(response.headers["content-disposition"]).toMatch(
      /^attachment; filename="kept-export-\d{4}-\d{2}-\d{2}\.json"$/,
    );
    expect(response.headers["transfer-encoding"]).toBe("chunked");
    expect(response.headers["cache-control"]).toBe("no-store");
    expect(document).toMatchObject({
      format: "kept-export",
      formatVersion: 1,
      exportedAt: t.clock.now().toISOString(),
    });
    expect(document.user).toEqual((await t.http.get("/v1/me").set(ana.auth)).body);
    expect(document.pairs.map((p) => [p.pair.id, p.pair.status])).toEqual([
      [first.pairId, "ended"],
      [pairId, "active"],
    ]);

    const [ended, current] = document.pairs as [ExportedPair, ExportedPair];
    expect(ended.commitments.map((c) => [c.id, c.title])).toEqual([[old.id, "Old times"]]);

    // Every event, in order, with hashes that verify; the checkpoint signs the last one.
    const verify = await t.http.get(`/v1/pairs/${pairId}/verify`).set(ana.auth).expect(200);
    expect(current.events.length).toBeGreaterThan(600);
    expect(current.events).toHaveLength(verify.body.lastSeq);
    expect(chainHolds(current.events)).toBe(true);
    expect(chainHolds(ended.events)).toBe(true);
    const last = current.events.at(-1);
    expect(current.checkpoint).toMatchObject({ pairId, seq: last?.seq, hash: last?.hash });
    const keys = createLocalJWKSet(document.publicKeys as never);
    const signed = await compactVerify(current.checkpoint.jws, keys);
    expect(signed.protectedHeader.typ).toBe("kept-checkpoint+jws");
    const { jws, ...claims } = current.checkpoint;
    expect(JSON.parse(new TextDecoder().decode(signed.payload))).toEqual(claims);
    // The same events the timeline serves.
    const firstPage = await t.http.get(`/v1/pairs/${pairId}/events?limit=100`).set(ben.auth).expect(200);
    expect(current.events.slice(0, 100)).toEqual(firstPage.body.data);

    // Everything else Ana can see, as the API shows it.
    expect(current.commitments).toHaveLength(601);
    const disputed = current.commitments.find((c) => c.id === reported.id);
    expect(disputed).toEqual((await t.http.get(`/v1/pairs/${pairId}/commitments/${reported.id}`).set(ana.auth)).body);
    // Every version of every commitment's words, as the texts route shows them (a revised report's first note and its dispute included).
    const texts = await t.http.get(`/v1/pairs/${pairId}/commitments/${reported.id}/texts`).set(ana.auth).expect(200);
    expect(current.commitmentTexts.filter((x) => x.commitmentId === reported.id)).toEqual(texts.body.data);
    expect(texts.body.data.map((x: { field: string; text: string }) => [x.field, x.text])).toEqual([
      ["title", "Home at 7"],
      ["reportNote", "Home 18:50"],
      ["disputeNote", "It was 20:10"],
      ["reportNote", "You are right"],
    ]);
    // One title for each of the 601 commitments, then the three notes.
    expect(current.commitmentTexts).toHaveLength(604);
    expect(ended.commitmentTexts.map((x) => x.text)).toEqual(["Old times"]);
    expect(current.series).toHaveLength(2);
    expect(current.requests).toHaveLength(1);
    expect(current.boundaries).toHaveLength(1);
    expect(current.boundaries[0]?.versions.map((v) => [v.version, v.text])).toEqual([
      [1, "Quiet after 23:00."],
      [2, "Quiet after 22:00."],
    ]);

    // Ben sees only the pair he was in.
    const bens = (await exportOf(ben)).document;
    expect(bens.pairs.map((p) => p.pair.id)).toEqual([pairId]);
    expect(bens.pairs[0]?.events).toEqual(current.events);
  });

  it("of someone never paired is just the profile; strict query; only for a signed-in caller", async () => {
    const loner = await registerUser(t);
    const { document } = await exportOf(loner);
    expect(document.pairs).toEqual([]);
    expect(document.user).toMatchObject({ id: loner.id, email: loner.email, activePairId: null });
    await t.http.get("/v1/me/export?format=csv").set(loner.auth).expect(400);
    await t.http.get("/v1/me/export").expect(401);
  });

  it("is limited per person per hour: past it 429 with Retry-After and the rate-limit headers", async () => {
    const ana = await registerUser(t, { displayName: "Ana" });
    const ben = await registerUser(t, { displayName: "Ben" });
    for (let i = 0; i < EXPORTS_PER_HOUR; i++) {
      const exported = await t.http.get("/v1/me/export").set(ana.auth).expect(200);
      expect(exported.headers["ratelimit-limit"]).toBe(String(EXPORTS_PER_HOUR));
      expect(exported.headers["ratelimit-remaining"]).toBe(String(EXPORTS_PER_HOUR - 1 - i));
    }
    const limited = await t.http.get("/v1/me/export").set(ana.auth).expect(429);
    expect(limited.body.code).toBe("RATE_LIMITED");
    expect(limited.headers["ratelimit-remaining"]).toBe("0");
    const retryAfter = Number(limited.headers["retry-after"]);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    // Per person: someone else still exports, and Ana's other reads are not limited.
    await t.http.get("/v1/me/export").set(ben.auth).expect(200);
    await t.http.get("/v1/me").set(ana.auth).expect(200);
    // The next hour, Ana exports again.
    await advanceClock(t, HOUR, ana);
    await t.http.get("/v1/me/export").set(ana.auth).expect(200);
  });
});
