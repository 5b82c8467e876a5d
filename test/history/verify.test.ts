import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LONG_SUFFIX_EVENTS, VERIFICATION_REUSE_MS } from "../../src/modules/history/index.js";
import { createChainVerifier } from "../../src/modules/history/verification.js";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { recomputeHash, type TimelineEvent } from "../helpers/chain.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { type LinkedPair, linkPair } from "../helpers/pairs.js";
import type { SignedInUser } from "../helpers/users.js";

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ passwordHasher: fastHasher });
});
afterAll(() => t.close());

const verifyPath = (pairId: string, query = "") => `/v1/pairs/${pairId}/verify${query}`;
const stats = () => t.app.verificationStats();

async function withClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: t.databaseUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A pair whose chain holds `extra` member.updated events after pair.linked. */
async function pairWithEvents(extra: number): Promise<LinkedPair> {
  const pair = await linkPair(t);
  for (let i = 0; i < extra; i++) {
    await t.http
      .patch("/v1/me")
      .set(pair.inviter.auth)
      .send({ displayName: `Name ${i}` })
      .expect(200);
  }
  return pair;
}

async function timeline(pairId: string, as: SignedInUser): Promise<TimelineEvent[]> {
  return (await t.http.get(`/v1/pairs/${pairId}/events?limit=100`).set(as.auth).expect(200)).body.data;
}

/** Appends `count` well-chained events straight into the table (a long history, cheaply). */
async function appendDirectly(pair: LinkedPair, count: number): Promise<void> {
  await withClient(async (client) => {
    const head = (await client.query("SELECT last_seq, head_hash FROM event_heads WHERE pair_id = $1", [pair.pairId]))
      .rows[0];
    let prevHash: string = head.head_hash;
    const rows: TimelineEvent[] = [];
    for (let seq = Number(head.last_seq) + 1; rows.length < count; seq++) {
      const event: TimelineEvent = {
        pairId: pair.pairId,
        seq,
        type: "member.updated",
        actorId: pair.inviter.id,
        subjectType: "member",
        subjectId: pair.inviter.id,
        payload: { userId: pair.inviter.id, fields: ["displayName"] },
        occurredAt: t.clock.now().toISOString(),
        prevHash,
        hash: "",
      };
      event.hash = recomputeHash(event);
      prevHash = event.hash;
      rows.push(event);
    }
    await client.query(
      `INSERT INTO events (pair_id, seq, type, actor_id, subject_type, subject_id, payload, occurred_at, prev_hash, hash)
       SELECT $1, e.seq, e.type, e.actor_id, e.subject_type, e.subject_id, e.payload, e.occurred_at, e.prev_hash, e.hash
       FROM jsonb_to_recordset($2::jsonb) AS e(seq int, type text, actor_id uuid, subject_type text, subject_id uuid,
         payload jsonb, occurred_at timestamptz, prev_hash text, hash text)`,
      [
        pair.pairId,
        JSON.stringify(
          rows.map((e) => ({
            seq: e.seq,
            type: e.type,
            actor_id: e.actorId,
            subject_type: e.subjectType,
            subject_id: e.subjectId,
            payload: e.payload,
            occurred_at: e.occurredAt,
            prev_hash: e.prevHash,
            hash: e.hash,
          })),
        ),
      ],
    );
    const last = rows.at(-1) as TimelineEvent;
    await client.query("UPDATE event_heads SET last_seq = $2, head_hash = $3 WHERE pair_id = $1", [
      pair.pairId,
      last.seq,
      last.hash,
    ]);
  });
}

describe("verifying the chain", () => {
  it("runs once for concurrent callers, is reused while the head stays, then checks only the new events", async () => {
    const { pairId, inviter, joiner } = await pairWithEvents(4);
    const before = stats();
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => t.http.get(verifyPath(pairId)).set(i % 2 ? inviter.auth : joiner.auth)),
    );
    const events = await timeline(pairId, inviter);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ valid: true, lastSeq: 5, headHash: events[4]?.hash, brokenAtSeq: null });
    }
    expect(stats().runs - before.runs).toBe(1);
    expect(stats().eventsChecked - before.eventsChecked).toBe(5);

    for (let i = 0; i < 4; i++) await t.http.get(verifyPath(pairId)).set(joiner.auth).expect(200);
    expect(stats().runs - before.runs).toBe(1);

    // The head moves: the next call checks the one new event, not the whole chain.
    await t.http.patch("/v1/me").set(joiner.auth).send({ displayName: "Moved" }).expect(200);
    const moved = await t.http.get(verifyPath(pairId)).set(joiner.auth).expect(200);
    expect(moved.body).toMatchObject({ valid: true, lastSeq: 6, brokenAtSeq: null });
    expect(stats().runs - before.runs).toBe(2);
    expect(stats().eventsChecked - before.eventsChecked).toBe(6);

    // A minute later the whole chain is checked again (an edit behind the trigger is found then).
    t.clock.advance(VERIFICATION_REUSE_MS);
    await t.http.get(verifyPath(pairId)).set(joiner.auth).expect(200);
    expect(stats().runs - before.runs).toBe(3);
    expect(stats().eventsChecked - before.eventsChecked).toBe(12);
  });

  it("shares one run between callers that all found nothing to reuse", async () => {
    const { pairId } = await pairWithEvents(2);
    const head = await withClient(
      async (client) =>
        (await client.query("SELECT last_seq AS seq, head_hash AS hash FROM event_heads WHERE pair_id = $1", [pairId]))
          .rows[0],
    );
    // Every caller reads the head before any run starts, so none can be answered from a result.
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let headReads = 0;
    const verifier = createChainVerifier({
      db: t.database.db,
      clock: t.clock,
      head: async () => {
        headReads++;
        await gate;
        return { seq: Number(head.seq), hash: head.hash };
      },
    });
    const calls = Array.from({ length: 5 }, () => verifier.verify(pairId));
    expect(headReads).toBe(5);
    release();
    for (const result of await Promise.all(calls)) expect(result).toMatchObject({ valid: true, lastSeq: 3 });
    expect(verifier.stats()).toEqual({ runs: 1, eventsChecked: 3 });
  });

  it("after a checkpoint the client holds checks only the events after it", async () => {
    const { pairId, inviter } = await pairWithEvents(5);
    const events = await timeline(pairId, inviter);
    const checkpoint = await t.http.get(`/v1/pairs/${pairId}/checkpoint`).set(inviter.auth).expect(200);
    expect(checkpoint.body.seq).toBe(6);
    await t.http.patch("/v1/me").set(inviter.auth).send({ displayName: "After" }).expect(200);
    await t.http.patch("/v1/me").set(inviter.auth).send({ displayName: "Later" }).expect(200);
    const after = await timeline(pairId, inviter);

    const before = stats();
    const suffix = await t.http
      .get(verifyPath(pairId, `?fromSeq=${checkpoint.body.seq}&fromHash=${checkpoint.body.hash}`))
      .set(inviter.auth)
      .expect(200);
    expect(suffix.body).toEqual({ valid: true, lastSeq: 8, headHash: after[7]?.hash, brokenAtSeq: null });
    expect(stats().runs - before.runs).toBe(1);
    expect(stats().eventsChecked - before.eventsChecked).toBe(2);
    // Asked again with the same checkpoint while the head stays: the same answer, no run.
    const again = await t.http
      .get(verifyPath(pairId, `?fromSeq=${checkpoint.body.seq}&fromHash=${checkpoint.body.hash}`))
      .set(inviter.auth)
      .expect(200);
    expect(again.body).toEqual(suffix.body);
    expect(stats().runs - before.runs).toBe(1);

    // The head itself as the checkpoint: nothing to check after it.
    const atHead = await t.http
      .get(verifyPath(pairId, `?fromSeq=8&fromHash=${after[7]?.hash}`))
      .set(inviter.auth)
      .expect(200);
    expect(atHead.body).toEqual({ valid: true, lastSeq: 8, headHash: after[7]?.hash, brokenAtSeq: null });

    // A hash that is not the stored one at that seq: the chain breaks there for this client.
    const otherHash = events[1]?.hash as string;
    const mismatch = await t.http
      .get(verifyPath(pairId, `?fromSeq=4&fromHash=${otherHash}`))
      .set(inviter.auth)
      .expect(200);
    expect(mismatch.body).toEqual({ valid: false, lastSeq: 3, headHash: null, brokenAtSeq: 4 });
    // A checkpoint past the head: the chain is shorter than what the client saw.
    const beyond = await t.http
      .get(verifyPath(pairId, `?fromSeq=99&fromHash=${otherHash}`))
      .set(inviter.auth)
      .expect(200);
    expect(beyond.body).toMatchObject({ valid: false, brokenAtSeq: 99 });
  });

  it("after a checkpoint finds an edit that follows it", async () => {
    const { pairId, inviter, joiner } = await pairWithEvents(4);
    const events = await timeline(pairId, inviter);
    await withClient(async (client) => {
      await client.query("SET session_replication_role = replica");
      await client.query(`UPDATE events SET payload = '{"userId":"x","fields":[]}' WHERE pair_id = $1 AND seq = 4`, [
        pairId,
      ]);
    });
    const broken = await t.http
      .get(verifyPath(pairId, `?fromSeq=2&fromHash=${events[1]?.hash}`))
      .set(joiner.auth)
      .expect(200);
    expect(broken.body).toEqual({ valid: false, lastSeq: 3, headHash: events[2]?.hash, brokenAtSeq: 4 });
  });

  it("answers a long suffix from the whole chain's verification, which later checkpoints reuse", async () => {
    const pair = await linkPair(t);
    await appendDirectly(pair, LONG_SUFFIX_EVENTS + 200);
    const length = LONG_SUFFIX_EVENTS + 201;
    const events = (
      await t.http.get(`/v1/pairs/${pair.pairId}/events?after=0&limit=3`).set(pair.inviter.auth).expect(200)
    ).body.data as TimelineEvent[];

    const before = stats();
    const first = await t.http
      .get(verifyPath(pair.pairId, `?fromSeq=1&fromHash=${events[0]?.hash}`))
      .set(pair.inviter.auth)
      .expect(200);
    expect(first.body).toMatchObject({ valid: true, lastSeq: length, brokenAtSeq: null });
    expect(stats().runs - before.runs).toBe(1);
    expect(stats().eventsChecked - before.eventsChecked).toBe(length);

    // Other checkpoints inside what was verified cost no run; the whole chain's answer is reused.
    for (const event of events.slice(1)) {
      const again = await t.http
        .get(verifyPath(pair.pairId, `?fromSeq=${event.seq}&fromHash=${event.hash}`))
        .set(pair.joiner.auth)
        .expect(200);
      expect(again.body).toMatchObject({ valid: true, lastSeq: length });
    }
    await t.http.get(verifyPath(pair.pairId)).set(pair.joiner.auth).expect(200);
    expect(stats().runs - before.runs).toBe(1);
  });

  it("takes fromSeq and fromHash together or not at all, both well formed, and declares them", async () => {
    const { pairId, inviter } = await linkPair(t);
    const hash = "a".repeat(64);
    for (const query of ["?fromSeq=1", `?fromHash=${hash}`, `?fromSeq=0&fromHash=${hash}`, "?fromSeq=1&fromHash=xyz"]) {
      const refused = await t.http.get(verifyPath(pairId, query)).set(inviter.auth).expect(400);
      expect(refused.body.code, query).toBe("VALIDATION_FAILED");
    }
    const { body } = await t.http.get("/openapi.json").expect(200);
    const parameters = body.paths["/v1/pairs/{pairId}/verify"].get.parameters as { name: string; in: string }[];
    expect(parameters.filter((p) => p.in === "query").map((p) => p.name)).toEqual(
      expect.arrayContaining(["fromSeq", "fromHash"]),
    );
  });
});
