import { compactVerify, createLocalJWKSet } from "jose";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VERIFICATION_REUSE_MS } from "../../src/modules/history/index.js";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { recomputeHash, type TimelineEvent } from "../helpers/chain.js";
import { HOUR } from "../helpers/clock.js";
import { createCommitment, step } from "../helpers/commitments.js";
import { linkPair } from "../helpers/pairs.js";
import { advanceClock } from "../helpers/users.js";

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t.close());

type Event = TimelineEvent;

async function allEvents(pairId: string, auth: Record<string, string>): Promise<Event[]> {
  return (await t.http.get(`/v1/pairs/${pairId}/events?limit=100`).set(auth).expect(200)).body.data;
}

async function withClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: t.databaseUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

describe("the timeline", () => {
  it("starts with pair.linked and ends with pair.ended, seq 1, 2, … chained from a zero hash", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    // A shared zone (test/pairs/zones.test.ts: an unshared one is never named).
    await t.http
      .patch("/v1/me")
      .set(inviter.auth)
      .send({ displayName: "Alex R", timeZone: "Asia/Tokyo", shareTimeZone: true })
      .expect(200);
    await t.http.post(`/v1/pairs/${pairId}/leave`).set(joiner.auth).expect(200);
    const events = await allEvents(pairId, inviter.auth);
    expect(events.map((e) => [e.seq, e.type])).toEqual([
      [1, "pair.linked"],
      [2, "member.updated"],
      [3, "pair.ended"],
    ]);
    expect(events[0]).toMatchObject({
      pairId,
      actorId: joiner.id,
      subjectType: "pair",
      subjectId: pairId,
      prevHash: "0".repeat(64),
    });
    expect(events[0]?.payload).toEqual({ memberIds: [inviter.id, joiner.id], invitedBy: inviter.id });
    // Which fields changed, never their values.
    expect(events[1]).toMatchObject({ actorId: inviter.id, subjectType: "member", subjectId: inviter.id });
    expect(events[1]?.payload).toEqual({ userId: inviter.id, fields: ["displayName", "timeZone"] });
    expect(JSON.stringify(events)).not.toContain("Alex R");
    expect(events[2]?.payload).toEqual({ endedBy: joiner.id, reason: "left" });
    for (const [i, event] of events.entries()) {
      expect(event.hash).toBe(recomputeHash(event));
      if (i > 0) expect(event.prevHash).toBe(events[i - 1]?.hash);
    }
    // Both members read the same timeline.
    expect(await allEvents(pairId, joiner.auth)).toEqual(events);
  });

  it("pages by seq and filters by type and subject", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    for (let i = 0; i < 4; i++) {
      await t.http
        .patch("/v1/me")
        .set(inviter.auth)
        .send({ displayName: `A${i}` })
        .expect(200);
      await t.http
        .patch("/v1/me")
        .set(joiner.auth)
        .send({ displayName: `B${i}` })
        .expect(200);
    }
    const page1 = await t.http.get(`/v1/pairs/${pairId}/events?limit=4`).set(inviter.auth).expect(200);
    expect(page1.body.data.map((e: Event) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(page1.body.nextCursor).toBe("4");
    const page2 = await t.http.get(`/v1/pairs/${pairId}/events?limit=4&after=4`).set(inviter.auth).expect(200);
    expect(page2.body.data.map((e: Event) => e.seq)).toEqual([5, 6, 7, 8]);
    expect(page2.body.nextCursor).toBe("8");
    const page3 = await t.http.get(`/v1/pairs/${pairId}/events?limit=4&after=8`).set(inviter.auth).expect(200);
    expect(page3.body.data.map((e: Event) => e.seq)).toEqual([9]);
    expect(page3.body.nextCursor).toBeNull();

    const linked = await t.http.get(`/v1/pairs/${pairId}/events?types=pair.linked,pair.ended`).set(joiner.auth);
    expect(linked.body.data.map((e: Event) => e.type)).toEqual(["pair.linked"]);
    const mine = await t.http.get(`/v1/pairs/${pairId}/events?subjectId=${joiner.id}`).set(joiner.auth).expect(200);
    expect(mine.body.data).toHaveLength(4);
    expect(mine.body.data.every((e: Event) => e.subjectId === joiner.id)).toBe(true);

    for (const query of ["limit=0", "limit=101", "after=-1", "types=DROP TABLE", "subjectId=nope", "colour=red"]) {
      const bad = await t.http.get(`/v1/pairs/${pairId}/events?${query}`).set(joiner.auth).expect(400);
      expect(bad.body.code).toBe("VALIDATION_FAILED");
    }
  });

  it("the unfiltered page, written as JSON by PostgreSQL, is the same as the typed timeline and the export", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    const due = new Date(t.clock.now().getTime() + HOUR).toISOString();
    await createCommitment(t, pairId, inviter, { dueAt: due, details: 'ünïcødé "quoted" \\ line\nbreak 😀' });
    const { id } = await createCommitment(t, pairId, joiner, { dueAt: due, category: "care" });
    await step(t, pairId, joiner, id, "withdraw", { reason: "Work trip" }).expect(200);
    // A system event (no actor): the sweep lapses the first commitment.
    await advanceClock(t, 2 * HOUR, inviter, joiner);
    await t.app.sweeper.runOnce();
    await t.http.patch("/v1/me").set(inviter.auth).send({ timeZone: "Asia/Kathmandu" }).expect(200);

    const fast = await t.http.get(`/v1/pairs/${pairId}/events?limit=100`).set(inviter.auth).expect(200);
    expect(fast.headers["content-type"]).toBe("application/json; charset=utf-8");
    const types = [...new Set(fast.body.data.map((e: Event) => e.type))].join(",");
    expect(fast.body.data.some((e: Event) => e.actorId === null)).toBe(true);
    const typed = await t.http.get(`/v1/pairs/${pairId}/events?limit=100&types=${types}`).set(inviter.auth).expect(200);
    expect(fast.body).toEqual(typed.body);
    // Page edges agree too.
    for (const after of [0, 2, 5]) {
      const a = await t.http.get(`/v1/pairs/${pairId}/events?limit=2&after=${after}`).set(inviter.auth).expect(200);
      const b = await t.http
        .get(`/v1/pairs/${pairId}/events?limit=2&after=${after}&types=${types}`)
        .set(inviter.auth)
        .expect(200);
      expect(a.body).toEqual(b.body);
    }
    // And the export (events built by the typed path, in batches) holds the same events.
    const exported = await t.http.get("/v1/me/export").set(inviter.auth).expect(200);
    const part = (exported.body.pairs as { pair: { id: string }; events: Event[] }[]).find((p) => p.pair.id === pairId);
    expect(part?.events).toEqual(fast.body.data);
  });

  it("keeps seq gap-free and the chain whole under concurrent writes to one pair", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        t.http
          .patch("/v1/me")
          .set((i % 2 ? inviter : joiner).auth)
          .send({ displayName: `Name ${i}` })
          .expect(200),
      ),
    );
    const events = await allEvents(pairId, inviter.auth);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    expect((await t.http.get(`/v1/pairs/${pairId}/verify`).set(inviter.auth).expect(200)).body.valid).toBe(true);
  });
});

describe("tamper evidence", () => {
  it("the database refuses to update, delete or truncate events", async () => {
    const { pairId } = await linkPair(t);
    await withClient(async (client) => {
      for (const statement of [
        "UPDATE events SET type = 'pair.rewritten' WHERE pair_id = $1",
        "DELETE FROM events WHERE pair_id = $1",
      ]) {
        const failure = await client.query(statement, [pairId]).catch((error: Error) => error.message);
        expect(failure).toMatch(/append-only/);
      }
      const truncate = await client.query("TRUNCATE events CASCADE").catch((error: Error) => error.message);
      expect(truncate).toMatch(/append-only/);
    });
  });

  it("verify is valid for an intact chain and finds the first edited, removed or relinked event", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    for (let i = 0; i < 3; i++)
      await t.http
        .patch("/v1/me")
        .set(inviter.auth)
        .send({ displayName: `N${i}` });
    const intact = await t.http.get(`/v1/pairs/${pairId}/verify`).set(joiner.auth).expect(200);
    const events = await allEvents(pairId, joiner.auth);
    expect(intact.body).toEqual({ valid: true, lastSeq: 4, headHash: events[3]?.hash, brokenAtSeq: null });

    // Someone with database access bypasses the trigger and edits seq 3's payload.
    await withClient(async (client) => {
      await client.query("SET session_replication_role = replica");
      await client.query(`UPDATE events SET payload = '{"userId":"x","fields":[]}' WHERE pair_id = $1 AND seq = 3`, [
        pairId,
      ]);
    });
    // The head did not move, so the last result is reused until it is a minute old.
    t.clock.advance(VERIFICATION_REUSE_MS);
    const edited = await t.http.get(`/v1/pairs/${pairId}/verify`).set(joiner.auth).expect(200);
    expect(edited.body).toEqual({ valid: false, lastSeq: 2, headHash: events[1]?.hash, brokenAtSeq: 3 });

    // Removing the tail is caught too: the chain head remembers how long it was.
    const other = await linkPair(t);
    await t.http.patch("/v1/me").set(other.inviter.auth).send({ displayName: "Tail" }).expect(200);
    await withClient(async (client) => {
      await client.query("SET session_replication_role = replica");
      await client.query("DELETE FROM events WHERE pair_id = $1 AND seq = 2", [other.pairId]);
    });
    const truncated = await t.http.get(`/v1/pairs/${other.pairId}/verify`).set(other.joiner.auth).expect(200);
    expect(truncated.body).toMatchObject({ valid: false, lastSeq: 1, brokenAtSeq: 2 });
  });
});

describe("checkpoints", () => {
  it("sign the chain head with a key published in the JWKS", async () => {
    const { pairId, inviter } = await linkPair(t);
    await t.http.patch("/v1/me").set(inviter.auth).send({ displayName: "Checked" }).expect(200);
    const checkpoint = await t.http.get(`/v1/pairs/${pairId}/checkpoint`).set(inviter.auth).expect(200);
    const events = await allEvents(pairId, inviter.auth);
    expect(checkpoint.body).toMatchObject({
      pairId,
      seq: 2,
      hash: events[1]?.hash,
      issuedAt: t.clock.now().toISOString(),
    });
    const jwks = (await t.http.get("/.well-known/jwks.json").expect(200)).body;
    const { payload, protectedHeader } = await compactVerify(checkpoint.body.jws, createLocalJWKSet(jwks));
    expect(protectedHeader.typ).toBe("kept-checkpoint+jws");
    const { jws: _jws, ...claims } = checkpoint.body;
    expect(JSON.parse(new TextDecoder().decode(payload))).toEqual(claims);
    // A checkpoint cannot be turned into an access token: its type differs.
    await t.http.get("/v1/me").set("Authorization", `Bearer ${checkpoint.body.jws}`).expect(401);
  });
});
