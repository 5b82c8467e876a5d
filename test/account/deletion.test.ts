import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { agreeBoundary, boundaryPath, proposeBoundary } from "../helpers/boundaries.js";
import { HOUR } from "../helpers/clock.js";
import { createCommitment, figures, step } from "../helpers/commitments.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { linkPair } from "../helpers/pairs.js";
import { advanceClock, registerUser, type SignedInUser } from "../helpers/users.js";

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ passwordHasher: fastHasher });
});
afterAll(() => t.close());

const inHours = (hours: number) => new Date(t.clock.now().getTime() + hours * HOUR).toISOString();
const get = async (as: SignedInUser, path: string) => (await t.http.get(path).set(as.auth).expect(200)).body;

/** Rows anywhere in the database whose text contains `needle` (white-box: "no email anywhere"). */
async function rowsContaining(needle: string): Promise<string[]> {
  const { rows: tables } = await t.database.pool.query<{ name: string }>(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
  );
  const found: string[] = [];
  for (const { name } of tables) {
    const { rows } = await t.database.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${name}" AS r WHERE r::text ILIKE $1`,
      [`%${needle}%`],
    );
    if ((rows[0]?.n ?? 0) > 0) found.push(name);
  }
  return found;
}

describe("deleting my account", () => {
  it("leaves the pair, blanks the person and their own words, ends every login; the partner keeps a history that verifies", async () => {
    const ana = await registerUser(t, { displayName: "Ana Lindqvist" });
    const ben = await registerUser(t, { displayName: "Benedikt", email: "benedikt.quist@example.com" });
    const cleo = await registerUser(t, { displayName: "Cleo Marsh" });

    // Ben's earlier pair, with Cleo: a recurring commitment of his, then it ended.
    const earlier = await linkPair(t, cleo, ben);
    await createCommitment(t, earlier.pairId, ben, {
      title: "Bens weekly series",
      dueAt: inHours(2),
      recurrence: { rrule: "FREQ=WEEKLY;COUNT=3" },
    });
    await t.http.post(`/v1/pairs/${earlier.pairId}/leave`).set(ben.auth).expect(200);

    // Ana joins with a key: her stored answer shows Ben by name. So does Ben's own profile change.
    const invite = await t.http.post("/v1/invites").set(ben.auth).expect(201);
    const joined = await t.http
      .post("/v1/pairs")
      .set(ana.auth)
      .set("Idempotency-Key", "ana-joins-ben")
      .send({ inviteCode: invite.body.code })
      .expect(201);
    const pairId = joined.body.id as string;
    await t.http
      .patch("/v1/me")
      .set(ben.auth)
      .set("Idempotency-Key", "ben-renames")
      .send({ displayName: "Benedikt Quist" })
      .expect(200);
    const path = (rest: string) => `/v1/pairs/${pairId}${rest}`;
    // Ben's commitments: one kept after a dispute, one missed and acknowledged.
    const bensKept = await createCommitment(t, pairId, ben, {
      title: "Bens secret title",
      details: "Bens private details",
      dueAt: inHours(2),
    });
    await step(t, pairId, ben, bensKept.id, "report", { outcome: "kept", note: "Bens report note" }).expect(200);
    await step(t, pairId, ana, bensKept.id, "dispute", { note: "Anas first dispute" }).expect(200);
    await step(t, pairId, ben, bensKept.id, "report", { outcome: "kept", note: "Bens revised note" }).expect(200);
    await step(t, pairId, ana, bensKept.id, "dispute", { note: "Anas dispute note" }).expect(200);
    await step(t, pairId, ana, bensKept.id, "confirm").expect(200);
    const bensMissed = await createCommitment(t, pairId, ben, { title: "Bens missed one", dueAt: inHours(2) });
    await step(t, pairId, ben, bensMissed.id, "report", { outcome: "missed" }).expect(200);
    await step(t, pairId, ana, bensMissed.id, "confirm").expect(200);
    await step(t, pairId, ben, bensMissed.id, "acknowledgement", { text: "Bens apology" }).expect(200);
    // Ana's commitment, which Ben disputed.
    const anas = await createCommitment(t, pairId, ana, { title: "Anas title", dueAt: inHours(2) });
    await step(t, pairId, ana, anas.id, "report", { outcome: "kept", note: "Anas report note" }).expect(200);
    await step(t, pairId, ben, anas.id, "dispute", { note: "Bens dispute note" }).expect(200);
    // Requests both ways: Ben's pending one, Ana's that Ben declined (with a key, so a stored answer exists).
    const bensRequest = await t.http
      .post(path("/requests"))
      .set(ben.auth)
      .send({ title: "Bens request", details: "Bens request details", dueAt: inHours(30) })
      .expect(201);
    const anasRequest = await t.http
      .post(path("/requests"))
      .set(ana.auth)
      .send({ title: "Anas request", dueAt: inHours(30) })
      .expect(201);
    await t.http
      .post(path(`/requests/${anasRequest.body.id}/decline`))
      .set(ben.auth)
      .set("Idempotency-Key", "ben-declines-1")
      .send({ reason: "Bens decline reason" })
      .expect(200);
    // Boundaries: agreed by both (kept), Ben's declined proposal (erased), reasons of Ben's (erased).
    const agreed = await agreeBoundary(t, pairId, ben, ana, { title: "Agreed title", text: "Agreed by both." });
    await t.http
      .post(boundaryPath(pairId, agreed.id, "/revisions"))
      .set(ben.auth)
      .send({ text: "Agreed by both, revised.", reason: "Bens revision reason" })
      .expect(201);
    await t.http
      .post(boundaryPath(pairId, agreed.id, "/revisions/2/accept"))
      .set(ana.auth)
      .expect(200);
    const bensProposal = await proposeBoundary(t, pairId, ben, { title: "Bens proposal", text: "Bens own words." });
    await t.http
      .post(boundaryPath(pairId, bensProposal.id, "/decline"))
      .set(ana.auth)
      .send({ reason: "Anas decline reason" })
      .expect(200);
    const anasProposal = await proposeBoundary(t, pairId, ana, { title: "Anas proposal", text: "Anas own words." });
    await t.http
      .post(boundaryPath(pairId, anasProposal.id, "/decline"))
      .set(ben.auth)
      .send({ reason: "Bens decline of Ana" })
      .expect(200);
    const withdrawn = await agreeBoundary(t, pairId, ana, ben, { title: "Withdrawn title", text: "Was agreed." });
    await t.http
      .post(boundaryPath(pairId, withdrawn.id, "/withdraw"))
      .set(ben.auth)
      .send({ reason: "Bens withdrawal reason" })
      .expect(200);
    await advanceClock(t, HOUR, ana, ben, cleo);

    const eventsBefore = (await get(ana, path("/events?limit=100"))).data;
    const figuresBefore = await figures(t, pairId, ana, "all");

    // The password must be re-entered.
    const wrong = await t.http.delete("/v1/me").set(ben.auth).send({ password: "not my password" }).expect(403);
    expect(wrong.body.code).toBe("WRONG_PASSWORD");
    await t.http.delete("/v1/me").set(ben.auth).send({}).expect(400);
    await t.http.delete("/v1/me").set(ben.auth).send({ password: ben.password, now: true }).expect(400);
    await get(ben, "/v1/me");
    await t.http.delete("/v1/me").set(ben.auth).send({ password: ben.password }).expect(204);

    // Every credential stops at once.
    expect((await t.http.get("/v1/me").set(ben.auth).expect(401)).body.code).toBe("UNAUTHENTICATED");
    await t.http.get(path("/events")).set(ben.auth).expect(401);
    await t.http.get("/v1/me/export").set(ben.auth).expect(401);
    await t.http.post("/v1/auth/refresh").send({ refreshToken: ben.refreshToken }).expect(401);
    const login = await t.http.post("/v1/auth/login").send({ email: ben.email, password: ben.password }).expect(401);
    expect(login.body.code).toBe("INVALID_CREDENTIALS");
    await t.http.delete("/v1/me").set(ben.auth).send({ password: ben.password }).expect(401);

    // The pair was left first, with the deletion as its reason; Ben reads as a former member.
    const pair = await get(ana, path(""));
    expect(pair).toMatchObject({ status: "ended", endedBy: ben.id, endReason: "account_deleted" });
    expect(pair.members.map((m: { userId: string; displayName: string }) => [m.userId, m.displayName])).toEqual([
      [ana.id, "Ana Lindqvist"],
      [ben.id, "former member"],
    ]);
    // History: untouched, one more event, still verifies.
    const eventsAfter = (await get(ana, path("/events?limit=100"))).data;
    expect(eventsAfter.slice(0, eventsBefore.length)).toEqual(eventsBefore);
    expect(eventsAfter.slice(eventsBefore.length).map((e: { type: string }) => e.type)).toEqual([
      "request.cancelled",
      "boundary.ended",
      "pair.ended",
    ]);
    expect(eventsAfter.at(-1)).toMatchObject({
      actorId: ben.id,
      payload: { endedBy: ben.id, reason: "account_deleted" },
    });
    expect(await get(ana, path("/verify"))).toMatchObject({ valid: true, brokenAtSeq: null });
    // Both members' figures do not change: outcomes, timings and acknowledgements stay. The agreed boundary ended.
    const figuresAfter = await figures(t, pairId, ana, "all");
    expect(figuresAfter.members).toEqual(figuresBefore.members);
    expect(figuresBefore.boundaries).toEqual({ agreed: 1, revisions: 1, withdrawn: 1 });
    expect(figuresAfter.boundaries).toEqual({ agreed: 0, revisions: 1, withdrawn: 1 });

    // Ben's words are gone; Ana's and what both agreed to stay.
    const commitment = (id: string) => get(ana, path(`/commitments/${id}`));
    expect(await commitment(bensKept.id)).toMatchObject({
      ownerId: ben.id,
      title: "",
      details: null,
      status: "confirmed",
      outcome: "kept",
      report: { note: null, timing: "early" },
      confirmation: { state: "confirmed", note: "Anas dispute note" },
    });
    expect((await commitment(bensMissed.id)).acknowledgement).toMatchObject({ text: null, acceptedAt: null });
    expect(await commitment(anas.id)).toMatchObject({
      title: "Anas title",
      report: { note: "Anas report note" },
      confirmation: { state: "disputed", note: null },
    });
    expect(await get(ana, path(`/requests/${bensRequest.body.id}`))).toMatchObject({
      title: "",
      details: null,
      status: "cancelled",
    });
    expect(await get(ana, path(`/requests/${anasRequest.body.id}`))).toMatchObject({
      title: "Anas request",
      reason: null,
    });
    const boundary = (id: string) => get(ana, boundaryPath(pairId, id));
    const kept = await boundary(agreed.id);
    expect(kept).toMatchObject({ status: "ended", title: "Agreed title", text: "Agreed by both, revised." });
    expect(kept.versions.map((v: { text: string; reason: string | null }) => [v.text, v.reason])).toEqual([
      ["Agreed by both.", null],
      ["Agreed by both, revised.", null],
    ]);
    expect(await boundary(bensProposal.id)).toMatchObject({
      title: "",
      text: "",
      closure: { cause: "declined", reason: "Anas decline reason" },
    });
    expect(await boundary(anasProposal.id)).toMatchObject({
      title: "Anas proposal",
      text: "Anas own words.",
      closure: { by: ben.id, reason: null },
    });
    expect(await boundary(withdrawn.id)).toMatchObject({
      title: "Withdrawn title",
      text: "Was agreed.",
      closure: { cause: "withdrawn", reason: null },
    });

    // Nothing Ana or Cleo can read names Ben or quotes him…
    const anasView = (await t.http.get("/v1/me/export").set(ana.auth).expect(200)).text;
    const cleosView = (await t.http.get("/v1/me/export").set(cleo.auth).expect(200)).text;
    for (const view of [anasView, cleosView]) {
      for (const secret of ["benedikt", "Quist", "Bens "]) expect(view).not.toContain(secret);
    }
    expect(anasView).toContain("Anas dispute note");
    expect(cleosView).toContain("former member");
    // …and nothing in the database holds his email, name or stored answers any more.
    expect(await rowsContaining("benedikt")).toEqual([]);
    expect(await rowsContaining("Quist")).toEqual([]);
    const { rows } = await t.database.pool.query(
      "SELECT email, display_name, password_hash, deleted_at FROM users WHERE id = $1",
      [ben.id],
    );
    expect(rows[0]).toMatchObject({ email: null, display_name: null, password_hash: null });
    expect(rows[0].deleted_at).not.toBeNull();

    // The email is free again.
    await registerUser(t, { email: ben.email });
  });

  it("blanks every version of the person's words on record, keeps the hashes, and leaves the partner's words", async () => {
    const ana = await registerUser(t, { displayName: "Ana" });
    const ben = await registerUser(t, { displayName: "Ben" });
    const { pairId } = await linkPair(t, ana, ben);
    type Text = {
      n: number;
      field: string;
      text: string | null;
      salt: string | null;
      hash: string | null;
      erased: boolean;
    };
    const textsOf = async (id: string): Promise<Text[]> =>
      (await get(ana, `/v1/pairs/${pairId}/commitments/${id}/texts`)).data;
    // Ben's commitment, edited, reported twice around Ana's dispute.
    const bens = await createCommitment(t, pairId, ben, { title: "Bens first title", dueAt: inHours(2) });
    await t.http
      .patch(`/v1/pairs/${pairId}/commitments/${bens.id}`)
      .set(ben.auth)
      .send({ title: "Bens second title", details: "Bens details" })
      .expect(200);
    await step(t, pairId, ben, bens.id, "report", { outcome: "kept", note: "Bens first note" }).expect(200);
    await step(t, pairId, ana, bens.id, "dispute", { note: "Anas dispute of Ben" }).expect(200);
    await step(t, pairId, ben, bens.id, "report", { outcome: "kept", note: "Bens second note" }).expect(200);
    // Ana's commitment: Ben's dispute is only on record now, after her revision.
    const anas = await createCommitment(t, pairId, ana, { title: "Anas title", dueAt: inHours(2) });
    await step(t, pairId, ana, anas.id, "report", { outcome: "kept", note: "Anas note" }).expect(200);
    await step(t, pairId, ben, anas.id, "dispute", { note: "Bens dispute of Ana" }).expect(200);
    await step(t, pairId, ana, anas.id, "report", { outcome: "missed", note: "Anas revision" }).expect(200);
    const before = { bens: await textsOf(bens.id), anas: await textsOf(anas.id) };
    const anasVersion = (await get(ana, `/v1/pairs/${pairId}/commitments/${anas.id}`)).version;
    const events = (await get(ana, `/v1/pairs/${pairId}/events?limit=100`)).data;

    await t.http.delete("/v1/me").set(ben.auth).send({ password: ben.password }).expect(204);

    const erased = (x: Text) => ({ ...x, text: null, salt: null, erased: true });
    const after = { bens: await textsOf(bens.id), anas: await textsOf(anas.id) };
    expect(after.bens).toEqual(before.bens.map((x) => (x.field === "disputeNote" ? x : erased(x))));
    expect(after.anas).toEqual(before.anas.map((x) => (x.field === "disputeNote" ? erased(x) : x)));
    expect(after.bens.find((x) => x.field === "disputeNote")?.text).toBe("Anas dispute of Ben");
    // The hashes stay, in the rows and in the untouched events; a cached copy of Ana's commitment is stale.
    expect(after.bens.every((x) => /^[0-9a-f]{64}$/.test(x.hash ?? ""))).toBe(true);
    expect((await get(ana, `/v1/pairs/${pairId}/events?limit=100`)).data.slice(0, events.length)).toEqual(events);
    expect((await get(ana, `/v1/pairs/${pairId}/commitments/${anas.id}`)).version).toBeGreaterThan(anasVersion);
    const { rows } = await t.database.pool.query(
      "SELECT count(*)::int AS n FROM commitment_texts WHERE text LIKE 'Bens%' OR (author_id = $1 AND salt IS NOT NULL)",
      [ben.id],
    );
    expect(rows[0].n).toBe(0);
  });

  it("outside a pair: revokes a pending invite, and the person is gone", async () => {
    const dana = await registerUser(t);
    const invite = await t.http.post("/v1/invites").set(dana.auth).expect(201);
    await t.http.delete("/v1/me").set(dana.auth).send({ password: dana.password }).expect(204);
    const joiner = await registerUser(t);
    const join = await t.http.post("/v1/pairs").set(joiner.auth).send({ inviteCode: invite.body.code }).expect(409);
    expect(join.body.code).toBe("INVITE_REVOKED");
    await t.http.get("/v1/me").set(dana.auth).expect(401);
  });
});
