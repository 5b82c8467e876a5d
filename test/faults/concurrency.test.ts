import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { startTestCluster, type TestCluster } from "../helpers/cluster.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { linkPair } from "../helpers/pairs.js";
import { registerUser } from "../helpers/users.js";

/** Races the design settles with locks, keys and constraints, run for real in parallel. */

const DUE = "2026-06-01T10:00:00.000Z";

function tally(statuses: number[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

describe("concurrency", () => {
  let cluster: TestCluster;
  let t: TestApp;

  beforeAll(async () => {
    cluster = await startTestCluster();
    const databaseUrl = await cluster.createDatabase("kept_concurrency");
    // Generous waits: these tests are about outcomes under contention, not about timeouts.
    t = await buildTestApp({
      databaseUrl,
      passwordHasher: fastHasher,
      env: { KEPT_DB_POOL_SIZE: "10", KEPT_DB_CONNECT_TIMEOUT_MS: "30000", KEPT_DB_STATEMENT_TIMEOUT_MS: "30000" },
    });
  });

  afterAll(async () => {
    await t?.close();
    await cluster?.destroy();
  });

  async function count(sql: string, params: unknown[]): Promise<number> {
    const client = new pg.Client({ connectionString: t.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ count: string }>(sql, params);
      return Number(rows[0]?.count);
    } finally {
      await client.end();
    }
  }

  async function expectChainIntact(pairId: string, auth: { Authorization: string }): Promise<number[]> {
    const verify = await t.http.get(`/v1/pairs/${pairId}/verify`).set(auth).expect(200);
    expect(verify.body).toMatchObject({ valid: true, brokenAtSeq: null });
    const seqs: number[] = [];
    let after = 0;
    while (true) {
      const page = await t.http.get(`/v1/pairs/${pairId}/events?limit=100&after=${after}`).set(auth).expect(200);
      seqs.push(...page.body.data.map((e: { seq: number }) => e.seq));
      if (page.body.nextCursor === null) break;
      after = Number(page.body.nextCursor);
    }
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect(verify.body.lastSeq).toBe(seqs.length);
    return seqs;
  }

  it("50 parallel requests with the same Idempotency-Key create one row", async () => {
    const { pairId, inviter } = await linkPair(t);
    const title = "Same key, fifty times";
    const send = () =>
      t.http
        .post(`/v1/pairs/${pairId}/commitments`)
        .set(inviter.auth)
        .set("Idempotency-Key", "fifty-at-once")
        .send({ title, dueAt: DUE });
    const responses = await Promise.all(Array.from({ length: 50 }, send));

    const statuses = responses.map((r) => r.status);
    // The first runs; the others either wait out its lock (409, retry later) or replay its answer.
    expect(
      statuses.every((s) => s === 201 || s === 409),
      JSON.stringify(tally(statuses)),
    ).toBe(true);
    const created = responses.filter((r) => r.status === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    expect(new Set(created.map((r) => r.body.id)).size).toBe(1);
    for (const refused of responses.filter((r) => r.status === 409)) {
      expect(refused.body.code).toBe("IDEMPOTENCY_KEY_IN_FLIGHT");
    }
    expect(await count("SELECT count(*) FROM commitments WHERE pair_id = $1 AND title = $2", [pairId, title])).toBe(1);

    const retry = await send().expect(201);
    expect(retry.headers["idempotent-replayed"]).toBe("true");
    expect(retry.body.id).toBe(created[0]?.body.id);
    await expectChainIntact(pairId, inviter.auth);
  });

  it("parallel confirm and dispute of one report leave one consistent outcome", async () => {
    const { pairId, inviter: owner, joiner: partner } = await linkPair(t);
    const made = await t.http
      .post(`/v1/pairs/${pairId}/commitments`)
      .set(owner.auth)
      .send({ title: "Call the plumber", dueAt: DUE })
      .expect(201);
    const path = `/v1/pairs/${pairId}/commitments/${made.body.id}`;
    const reported = await t.http.post(`${path}/report`).set(owner.auth).send({ outcome: "kept" }).expect(200);

    const answers = Array.from({ length: 20 }, (_, i): "confirm" | "dispute" => (i % 2 === 0 ? "confirm" : "dispute"));
    const responses = await Promise.all(
      answers.map((answer) =>
        answer === "confirm"
          ? t.http.post(`${path}/confirm`).set(partner.auth).send({})
          : t.http.post(`${path}/dispute`).set(partner.auth).send({ note: "I was home; you were not." }),
      ),
    );
    const statuses = responses.map((r) => r.status);
    expect(
      statuses.every((s) => s === 200 || s === 409),
      JSON.stringify(tally(statuses)),
    ).toBe(true);
    const succeeded = answers.filter((_, i) => responses[i]?.status === 200);

    const final = (await t.http.get(path).set(owner.auth).expect(200)).body;
    const events = (
      await t.http.get(`/v1/pairs/${pairId}/events?subjectId=${made.body.id}&limit=100`).set(owner.auth).expect(200)
    ).body.data.map((e: { type: string }) => e.type);
    const after = events.slice(events.indexOf("commitment.reported") + 1);

    // Only two histories are possible: confirmed at once, or disputed (and perhaps the dispute withdrawn by a confirm).
    if (final.status === "disputed") {
      expect(succeeded).toEqual(["dispute"]);
      expect(after).toEqual(["commitment.disputed"]);
    } else {
      expect(final.status).toBe("confirmed");
      expect(succeeded.filter((a) => a === "confirm")).toHaveLength(1);
      expect(succeeded.filter((a) => a === "dispute").length).toBeLessThanOrEqual(1);
      expect(after).toEqual(
        succeeded.includes("dispute")
          ? ["commitment.disputed", "commitment.dispute_withdrawn"]
          : ["commitment.confirmed"],
      );
    }
    // Every success is one version step and one event; every refusal changed nothing.
    expect(final.version).toBe(reported.body.version + succeeded.length);
    await expectChainIntact(pairId, owner.auth);
  });

  it("parallel joins of one invite form one pair", async () => {
    const inviter = await registerUser(t);
    const joiners = await Promise.all(Array.from({ length: 10 }, () => registerUser(t)));
    const invite = await t.http.post("/v1/invites").set(inviter.auth).expect(201);
    const responses = await Promise.all(
      joiners.map((joiner) => t.http.post("/v1/pairs").set(joiner.auth).send({ inviteCode: invite.body.code })),
    );
    const statuses = responses.map((r) => r.status);
    expect(tally(statuses)).toEqual({ 201: 1, 409: 9 });
    for (const refused of responses.filter((r) => r.status === 409)) expect(refused.body.code).toBe("INVITE_USED");

    const pairs = await t.http.get("/v1/pairs").set(inviter.auth).expect(200);
    expect(pairs.body.data).toHaveLength(1);
    expect(await count("SELECT count(*) FROM pair_members WHERE user_id = $1", [inviter.id])).toBe(1);
    const winner = joiners[statuses.indexOf(201)];
    expect(pairs.body.data[0].members.map((m: { userId: string }) => m.userId).sort()).toEqual(
      [inviter.id, winner?.id].sort(),
    );
  });

  it("parallel writes to one pair keep seq gap-free and the chain intact", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    const writes = Array.from({ length: 40 }, (_, i) =>
      t.http
        .post(`/v1/pairs/${pairId}/commitments`)
        .set((i % 2 === 0 ? inviter : joiner).auth)
        .send({ title: `Parallel ${i}`, dueAt: DUE }),
    );
    const statuses = (await Promise.all(writes)).map((r) => r.status);
    expect(tally(statuses)).toEqual({ 201: 40 });
    const seqs = await expectChainIntact(pairId, inviter.auth);
    // pair.linked, then one commitment.created per write.
    expect(seqs).toHaveLength(41);
  });

  it("creates racing a partner leaving: each lands before the end (and is withdrawn by it) or is refused", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    const create = (i: number) =>
      t.http
        .post(`/v1/pairs/${pairId}/commitments`)
        .set((i % 2 === 0 ? inviter : joiner).auth)
        .send({ title: `Racing ${i}`, dueAt: DUE });
    const before = Array.from({ length: 20 }, (_, i) => create(i));
    const leave = t.http.post(`/v1/pairs/${pairId}/leave`).set(joiner.auth);
    const after = Array.from({ length: 20 }, (_, i) => create(20 + i));
    const [left, ...creates] = await Promise.all([leave, ...before, ...after]);
    expect(left?.status).toBe(200);
    for (const response of creates) {
      expect([201, 409]).toContain(response.status);
      if (response.status === 409) expect(response.body.code).toBe("PAIR_ENDED");
    }
    const accepted = creates.filter((r) => r.status === 201).length;
    // Nothing stays open in the ended pair: the leaving rule saw every commitment that got in.
    expect(await count("SELECT count(*) FROM commitments WHERE pair_id = $1 AND status = 'open'", [pairId])).toBe(0);
    expect(await count("SELECT count(*) FROM commitments WHERE pair_id = $1", [pairId])).toBe(accepted);
    await expectChainIntact(pairId, inviter.auth);
  });

  it("a join racing the joiner's account deletion never leaves the deleted person in a pair", async () => {
    for (let round = 0; round < 8; round++) {
      const [inviter, joiner] = await Promise.all([registerUser(t), registerUser(t)]);
      const invite = await t.http.post("/v1/invites").set(inviter.auth).expect(201);
      const [joined, deleted] = await Promise.all([
        t.http.post("/v1/pairs").set(joiner.auth).send({ inviteCode: invite.body.code }),
        t.http.delete("/v1/me").set(joiner.auth).send({ password: joiner.password }),
      ]);
      expect(deleted.status).toBe(204);
      expect([201, 401]).toContain(joined.status);
      // Whichever committed first, the deleted person is in no active pair, and the inviter is free again.
      for (const user of [joiner, inviter]) {
        expect(await count("SELECT count(*) FROM pair_members WHERE user_id = $1 AND active", [user.id])).toBe(0);
      }
      if (joined.status === 201) {
        const pair = await t.http.get(`/v1/pairs/${joined.body.id}`).set(inviter.auth).expect(200);
        expect(pair.body.status).toBe("ended");
      }
    }
  });

  it("two people joining each other's invite at once form one pair; the other join is refused, never a deadlock", async () => {
    for (let round = 0; round < 10; round++) {
      const [first, second] = await Promise.all([registerUser(t), registerUser(t)]);
      const [firstInvite, secondInvite] = await Promise.all([
        t.http.post("/v1/invites").set(first.auth).expect(201),
        t.http.post("/v1/invites").set(second.auth).expect(201),
      ]);
      const responses = await Promise.all([
        t.http.post("/v1/pairs").set(first.auth).send({ inviteCode: secondInvite.body.code }),
        t.http.post("/v1/pairs").set(second.auth).send({ inviteCode: firstInvite.body.code }),
      ]);
      // A deadlock would answer 503 DATABASE_UNAVAILABLE; the loser gets what a later join gets: its invite was revoked.
      expect(tally(responses.map((r) => r.status))).toEqual({ 201: 1, 409: 1 });
      const refused = responses.find((r) => r.status === 409);
      expect(refused?.body.code).toBe("INVITE_REVOKED");
      const formed = responses.find((r) => r.status === 201);
      for (const user of [first, second]) {
        expect(await count("SELECT count(*) FROM pair_members WHERE user_id = $1 AND active", [user.id])).toBe(1);
        expect(await count("SELECT count(*) FROM pair_members WHERE user_id = $1", [user.id])).toBe(1);
        const pairs = await t.http.get("/v1/pairs").set(user.auth).expect(200);
        expect(pairs.body.data.map((p: { id: string }) => p.id)).toEqual([formed?.body.id]);
      }
      expect(
        await count("SELECT count(*) FROM invites WHERE inviter_id = ANY($1) AND status = 'pending'", [
          [first.id, second.id],
        ]),
      ).toBe(0);
    }
  });

  it("creates racing the partner's confirms and profile changes in one pair all succeed (one lock order, no deadlock)", async () => {
    const { pairId, inviter: owner, joiner: partner } = await linkPair(t);
    const create = (title: string) =>
      t.http.post(`/v1/pairs/${pairId}/commitments`).set(owner.auth).send({ title, dueAt: DUE });
    const reported: string[] = [];
    for (let i = 0; i < 12; i++) {
      const made = await create(`Reported ${i}`).expect(201);
      await t.http
        .post(`/v1/pairs/${pairId}/commitments/${made.body.id}/report`)
        .set(owner.auth)
        .send({ outcome: i % 2 === 0 ? "kept" : "missed" })
        .expect(200);
      reported.push(made.body.id);
    }
    const responses = await Promise.all([
      ...reported.map((id) => t.http.post(`/v1/pairs/${pairId}/commitments/${id}/confirm`).set(partner.auth)),
      ...reported.map((_, i) => create(`Racing ${i}`)),
      ...[0, 1, 2, 3].map((i) =>
        t.http
          .patch("/v1/me")
          .set(owner.auth)
          .send({ displayName: `Owner ${i}` }),
      ),
    ]);
    // Every one succeeds: a deadlock would surface as a 503 (and a second's stall).
    expect(tally(responses.map((r) => r.status))).toEqual({ 200: 16, 201: 12 });
    await expectChainIntact(pairId, owner.auth);
  });
});
