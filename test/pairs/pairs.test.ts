import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { HOUR } from "../helpers/clock.js";
import { linkPair } from "../helpers/pairs.js";
import { refreshUser, registerUser } from "../helpers/users.js";

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t.close());

describe("invites", () => {
  it("answer a short human-typable code that expires in 72 hours", async () => {
    const user = await registerUser(t);
    const invite = await t.http.post("/v1/invites").set(user.auth).expect(201);
    expect(invite.body.code).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/);
    expect(new Date(invite.body.expiresAt).getTime() - t.clock.now().getTime()).toBe(72 * HOUR);
    const current = await t.http.get("/v1/invites/current").set(user.auth).expect(200);
    expect(current.body).toEqual({
      pending: true,
      createdAt: t.clock.now().toISOString(),
      expiresAt: invite.body.expiresAt,
    });
  });

  it("are stored hashed, never as the code", async () => {
    const user = await registerUser(t);
    const invite = await t.http.post("/v1/invites").set(user.auth).expect(201);
    const client = new pg.Client({ connectionString: t.databaseUrl });
    await client.connect();
    const { rows } = await client.query("SELECT * FROM invites WHERE inviter_id = $1", [user.id]);
    await client.end();
    expect(JSON.stringify(rows)).not.toContain(invite.body.code.replace("-", ""));
    expect(JSON.stringify(rows)).not.toContain(invite.body.code);
  });

  it("are replaced by a new invite, and can be revoked (204 also when none)", async () => {
    const a = await registerUser(t);
    const b = await registerUser(t);
    const first = await t.http.post("/v1/invites").set(a.auth).expect(201);
    const second = await t.http.post("/v1/invites").set(a.auth).expect(201);
    const revoked = await t.http.post("/v1/pairs").set(b.auth).send({ inviteCode: first.body.code }).expect(409);
    expect(revoked.body.code).toBe("INVITE_REVOKED");
    await t.http.delete("/v1/invites/current").set(a.auth).expect(204);
    await t.http.delete("/v1/invites/current").set(a.auth).expect(204);
    expect((await t.http.get("/v1/invites/current").set(a.auth).expect(200)).body.pending).toBe(false);
    const gone = await t.http.post("/v1/pairs").set(b.auth).send({ inviteCode: second.body.code }).expect(409);
    expect(gone.body.code).toBe("INVITE_REVOKED");
  });

  it("accept the code however it is typed", async () => {
    const a = await registerUser(t);
    const b = await registerUser(t);
    const { code } = (await t.http.post("/v1/invites").set(a.auth).expect(201)).body as { code: string };
    const typed = ` ${code.toLowerCase().replace("-", " ")} `.replace(/1/g, "l").replace(/0/g, "o");
    await t.http.post("/v1/pairs").set(b.auth).send({ inviteCode: typed }).expect(201);
  });

  it("refuse expired, unknown, used and own codes with clear problems", async () => {
    let a = await registerUser(t);
    let b = await registerUser(t);
    let c = await registerUser(t);
    const own = await t.http.post("/v1/invites").set(a.auth).expect(201);
    expect((await t.http.post("/v1/pairs").set(a.auth).send({ inviteCode: own.body.code }).expect(409)).body.code).toBe(
      "OWN_INVITE",
    );
    expect((await t.http.post("/v1/pairs").set(b.auth).send({ inviteCode: "ZZZZZ-ZZZZZ" }).expect(404)).body.code).toBe(
      "INVITE_NOT_FOUND",
    );
    expect((await t.http.post("/v1/pairs").set(b.auth).send({ inviteCode: "hello" }).expect(404)).body.code).toBe(
      "INVITE_NOT_FOUND",
    );
    t.clock.advance(72 * HOUR);
    a = await refreshUser(t, a);
    b = await refreshUser(t, b);
    c = await refreshUser(t, c);
    expect((await t.http.get("/v1/invites/current").set(a.auth).expect(200)).body.pending).toBe(false);
    expect((await t.http.post("/v1/pairs").set(b.auth).send({ inviteCode: own.body.code }).expect(409)).body.code).toBe(
      "INVITE_EXPIRED",
    );
    const fresh = await t.http.post("/v1/invites").set(a.auth).expect(201);
    await t.http.post("/v1/pairs").set(b.auth).send({ inviteCode: fresh.body.code }).expect(201);
    expect(
      (await t.http.post("/v1/pairs").set(c.auth).send({ inviteCode: fresh.body.code }).expect(409)).body.code,
    ).toBe("INVITE_USED");
  });

  it("are only for people not in an active pair", async () => {
    const { inviter, joiner } = await linkPair(t);
    const outsider = await registerUser(t);
    expect((await t.http.post("/v1/invites").set(inviter.auth).expect(409)).body.code).toBe("ALREADY_IN_PAIR");
    const invite = await t.http.post("/v1/invites").set(outsider.auth).expect(201);
    const refused = await t.http.post("/v1/pairs").set(joiner.auth).send({ inviteCode: invite.body.code }).expect(409);
    expect(refused.body.code).toBe("ALREADY_IN_PAIR");
  });
});

describe("forming a pair", () => {
  it("links both members atomically and shows them", async () => {
    const a = await registerUser(t, { displayName: "Alex" });
    const b = await registerUser(t, { displayName: "Blake" });
    const invite = await t.http.post("/v1/invites").set(a.auth).expect(201);
    const response = await t.http.post("/v1/pairs").set(b.auth).send({ inviteCode: invite.body.code }).expect(201);
    expect(response.headers.location).toBe(`/v1/pairs/${response.body.id}`);
    expect(response.body).toMatchObject({ status: "active", endedAt: null, createdAt: t.clock.now().toISOString() });
    const byId = (x: { userId: string }, y: { userId: string }) => x.userId.localeCompare(y.userId);
    expect(response.body.members).toEqual(
      [
        // Neither shares a zone: no tracking by default.
        { userId: a.id, displayName: "Alex", timeZone: null, joinedAt: t.clock.now().toISOString() },
        { userId: b.id, displayName: "Blake", timeZone: null, joinedAt: t.clock.now().toISOString() },
      ].sort(byId),
    );
    for (const user of [a, b]) {
      expect((await t.http.get("/v1/me").set(user.auth).expect(200)).body.activePairId).toBe(response.body.id);
      expect((await t.http.get(`/v1/pairs/${response.body.id}`).set(user.auth).expect(200)).body).toEqual(
        response.body,
      );
    }
  });

  it("revokes both members' other invites", async () => {
    const a = await registerUser(t);
    const b = await registerUser(t);
    await t.http.post("/v1/invites").set(b.auth).expect(201);
    const invite = await t.http.post("/v1/invites").set(a.auth).expect(201);
    await t.http.post("/v1/pairs").set(b.auth).send({ inviteCode: invite.body.code }).expect(201);
    expect((await t.http.get("/v1/invites/current").set(b.auth).expect(200)).body.pending).toBe(false);
  });

  it("lets exactly one of two people joining the same code at once succeed", async () => {
    const a = await registerUser(t);
    const joiners = await Promise.all([registerUser(t), registerUser(t), registerUser(t)]);
    const invite = await t.http.post("/v1/invites").set(a.auth).expect(201);
    const responses = await Promise.all(
      joiners.map((j) => t.http.post("/v1/pairs").set(j.auth).send({ inviteCode: invite.body.code })),
    );
    expect(responses.map((r) => r.status).sort()).toEqual([201, 409, 409]);
    const losers = responses.filter((r) => r.status === 409);
    for (const loser of losers) expect(loser.body.code).toBe("INVITE_USED");
  });

  it("never puts anyone in two active pairs, even when they join two invites at once", async () => {
    const joiner = await registerUser(t);
    const inviters = await Promise.all([registerUser(t), registerUser(t), registerUser(t)]);
    const codes = await Promise.all(
      inviters.map(async (i) => (await t.http.post("/v1/invites").set(i.auth).expect(201)).body.code as string),
    );
    const responses = await Promise.all(
      codes.map((inviteCode) => t.http.post("/v1/pairs").set(joiner.auth).send({ inviteCode })),
    );
    expect(responses.filter((r) => r.status === 201)).toHaveLength(1);
    for (const r of responses.filter((r) => r.status !== 201)) expect(r.body.code).toBe("ALREADY_IN_PAIR");

    const client = new pg.Client({ connectionString: t.databaseUrl });
    await client.connect();
    const { rows } = await client.query("SELECT count(*)::int AS n FROM pair_members WHERE user_id = $1 AND active", [
      joiner.id,
    ]);
    // The database itself refuses a second active membership.
    const second = await client
      .query("INSERT INTO pairs (id, status, created_at) VALUES (gen_random_uuid(), 'active', now()) RETURNING id")
      .then((r) =>
        client.query("INSERT INTO pair_members (pair_id, user_id, joined_at, active) VALUES ($1, $2, now(), true)", [
          r.rows[0].id,
          joiner.id,
        ]),
      )
      .catch((error: { code: string }) => error.code);
    await client.end();
    expect(rows[0].n).toBe(1);
    expect(second).toBe("23505");
  });

  it("survives an inviter joining someone else while their own invite is being used", async () => {
    const a = await registerUser(t);
    const b = await registerUser(t);
    const c = await registerUser(t);
    const aInvite = await t.http.post("/v1/invites").set(a.auth).expect(201);
    const cInvite = await t.http.post("/v1/invites").set(c.auth).expect(201);
    const [bJoinsA, aJoinsC] = await Promise.all([
      t.http.post("/v1/pairs").set(b.auth).send({ inviteCode: aInvite.body.code }),
      t.http.post("/v1/pairs").set(a.auth).send({ inviteCode: cInvite.body.code }),
    ]);
    expect([bJoinsA.status, aJoinsC.status].filter((s) => s === 201)).toHaveLength(1);
    const pairOfA = (await t.http.get("/v1/me").set(a.auth).expect(200)).body.activePairId;
    expect(pairOfA).toBe(bJoinsA.status === 201 ? bJoinsA.body.id : aJoinsC.body.id);
  });
});

describe("listing pairs", () => {
  it("shows my pairs, active and ended, newest first, cursor-paginated", async () => {
    const me = await registerUser(t);
    const first = await linkPair(t, me);
    await t.http.post(`/v1/pairs/${first.pairId}/leave`).set(me.auth).expect(200);
    t.clock.advance(1000);
    const second = await linkPair(t, me);
    await t.http.post(`/v1/pairs/${second.pairId}/leave`).set(me.auth).expect(200);
    t.clock.advance(1000);
    const third = await linkPair(t, me);

    const page1 = await t.http.get("/v1/pairs?limit=2").set(me.auth).expect(200);
    expect(page1.body.data.map((p: { id: string }) => p.id)).toEqual([third.pairId, second.pairId]);
    expect(page1.body.nextCursor).toEqual(expect.any(String));
    const page2 = await t.http.get(`/v1/pairs?limit=2&cursor=${page1.body.nextCursor}`).set(me.auth).expect(200);
    expect(page2.body.data.map((p: { id: string; status: string }) => [p.id, p.status])).toEqual([
      [first.pairId, "ended"],
    ]);
    expect(page2.body.nextCursor).toBeNull();
  });

  it("rejects unknown query parameters, bad limits and forged cursors", async () => {
    const me = await registerUser(t);
    await t.http.get("/v1/pairs?limit=0").set(me.auth).expect(400);
    await t.http.get("/v1/pairs?limit=101").set(me.auth).expect(400);
    await t.http.get("/v1/pairs?sort=asc").set(me.auth).expect(400);
    const forged = await t.http.get("/v1/pairs?cursor=bm90LWEtY3Vyc29y").set(me.auth).expect(400);
    expect(forged.body.code).toBe("VALIDATION_FAILED");
  });
});

describe("leaving", () => {
  it("ends the pair at once on one member's word; both keep reading; writes are refused", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    const ended = await t.http.post(`/v1/pairs/${pairId}/leave`).set(joiner.auth).expect(200);
    expect(ended.body).toMatchObject({
      status: "ended",
      endedAt: t.clock.now().toISOString(),
      endedBy: joiner.id,
      endReason: "left",
    });
    for (const user of [inviter, joiner]) {
      expect((await t.http.get("/v1/me").set(user.auth).expect(200)).body.activePairId).toBeNull();
      await t.http.get(`/v1/pairs/${pairId}`).set(user.auth).expect(200);
      await t.http.get(`/v1/pairs/${pairId}/events`).set(user.auth).expect(200);
    }
    const again = await t.http.post(`/v1/pairs/${pairId}/leave`).set(inviter.auth).expect(409);
    expect(again.body.code).toBe("PAIR_ENDED");
  });

  it("frees both to form new pairs", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    await t.http.post(`/v1/pairs/${pairId}/leave`).set(inviter.auth).expect(200);
    const again = await linkPair(t, joiner, inviter);
    expect(again.pairId).not.toBe(pairId);
  });

  it("replays with the same Idempotency-Key instead of failing the retry", async () => {
    const { pairId, inviter } = await linkPair(t);
    const first = await t.http.post(`/v1/pairs/${pairId}/leave`).set(inviter.auth).set("Idempotency-Key", "leave-1");
    const retry = await t.http.post(`/v1/pairs/${pairId}/leave`).set(inviter.auth).set("Idempotency-Key", "leave-1");
    expect(first.status).toBe(200);
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
  });
});
