import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { agreeBoundary, boundaryPath, eventTypes, proposeBoundary, sampleBoundary } from "../helpers/boundaries.js";
import { DAY, MINUTE } from "../helpers/clock.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { linkPair } from "../helpers/pairs.js";
import { refreshUser } from "../helpers/users.js";

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ passwordHasher: fastHasher, env: { KEPT_REFRESH_TOKEN_TTL_DAYS: "365" } });
});
afterAll(() => t.close());

type Event = { seq: number; type: string; actorId: string | null; subjectId: string; payload: Record<string, unknown> };

const inDays = (days: number) => new Date(t.clock.now().getTime() + days * DAY).toISOString();

describe("a boundary, from proposal to withdrawal (the issue's scenario)", () => {
  it("is proposed, agreed, revised by consent, withdrawn alone; a time box ends by itself; outsiders see nothing", async () => {
    let { pairId, inviter: alex, joiner: blake } = await linkPair(t);
    let stranger = (await linkPair(t)).inviter;
    const secrets = ["transparent about finances", "We show each other", "Not ready", "I need", "No contact"];

    // Alex proposes; Blake agrees.
    const proposed = await t.http
      .post(boundaryPath(pairId))
      .set(alex.auth)
      .send({
        title: "We are transparent about finances",
        text: "We show each other every purchase over 100 euros.",
        category: "finances",
      })
      .expect(201);
    const id = proposed.body.id as string;
    expect(proposed.headers.location).toBe(boundaryPath(pairId, id));
    expect(proposed.headers.etag).toBe('"1"');
    expect(proposed.body).toMatchObject({
      pairId,
      status: "proposed",
      version: 1,
      rowVersion: 1,
      category: "finances",
      startsAt: null,
      endsAt: null,
      reviewAt: null,
      proposedBy: alex.id,
      pendingRevision: null,
      versions: [],
      closure: null,
      createdAt: t.clock.now().toISOString(),
    });
    t.clock.advance(MINUTE);
    const agreedAt = t.clock.now().toISOString();
    const agreed = await t.http
      .post(boundaryPath(pairId, id, "/accept"))
      .set(blake.auth)
      .expect(200);
    expect(agreed.body).toMatchObject({ status: "agreed", version: 1, rowVersion: 2 });
    expect(agreed.body.versions).toEqual([
      expect.objectContaining({ version: 1, proposedBy: alex.id, agreedBy: blake.id, agreedAt, changedFields: [] }),
    ]);

    // Alex proposes a revision; Blake declines it: version 1 stays.
    t.clock.advance(MINUTE);
    const revision = await t.http
      .post(boundaryPath(pairId, id, "/revisions"))
      .set(alex.auth)
      .send({ text: "We show each other every purchase over 50 euros.", reason: "I need more openness" })
      .expect(201);
    expect(revision.body).toMatchObject({
      boundaryId: id,
      version: 2,
      status: "pending",
      title: "We are transparent about finances",
      text: "We show each other every purchase over 50 euros.",
      changedFields: ["text"],
      reason: "I need more openness",
      proposedBy: alex.id,
    });
    const pending = await t.http.get(boundaryPath(pairId, id)).set(blake.auth).expect(200);
    expect(pending.body.pendingRevision).toEqual(revision.body);
    expect(pending.body.text).toBe("We show each other every purchase over 100 euros.");
    const declined = await t.http
      .post(boundaryPath(pairId, id, "/revisions/2/decline"))
      .set(blake.auth)
      .send({ reason: "Not ready for that" })
      .expect(200);
    expect(declined.body).toMatchObject({ status: "agreed", version: 1, pendingRevision: null });
    expect(declined.body.text).toBe("We show each other every purchase over 100 euros.");
    expect(declined.body.versions).toHaveLength(1);

    // Blake proposes another revision, which reuses number 2; Alex accepts it.
    t.clock.advance(MINUTE);
    const second = await t.http
      .post(boundaryPath(pairId, id, "/revisions"))
      .set(blake.auth)
      .send({ title: "We are transparent about money", reviewAt: inDays(60) })
      .expect(201);
    expect(second.body).toMatchObject({ version: 2, changedFields: ["title", "reviewAt"], proposedBy: blake.id });
    t.clock.advance(MINUTE);
    const revisedAt = t.clock.now().toISOString();
    const revised = await t.http
      .post(boundaryPath(pairId, id, "/revisions/2/accept"))
      .set(alex.auth)
      .expect(200);
    expect(revised.body).toMatchObject({
      status: "agreed",
      version: 2,
      title: "We are transparent about money",
      text: "We show each other every purchase over 100 euros.",
      reviewAt: second.body.reviewAt,
      pendingRevision: null,
      proposedBy: alex.id,
    });
    expect(revised.body.versions.map((v: Record<string, unknown>) => [v.version, v.proposedBy, v.agreedBy])).toEqual([
      [1, alex.id, blake.id],
      [2, blake.id, alex.id],
    ]);
    expect(revised.body.versions[1]).toMatchObject({
      title: "We are transparent about money",
      changedFields: ["title", "reviewAt"],
      agreedAt: revisedAt,
    });
    expect(revised.body.versions[0].title).toBe("We are transparent about finances");

    // Blake withdraws consent, alone; it stays on record.
    t.clock.advance(MINUTE);
    const withdrawn = await t.http
      .post(boundaryPath(pairId, id, "/withdraw"))
      .set(blake.auth)
      .send({ reason: "I need to renegotiate this from scratch" })
      .expect(200);
    expect(withdrawn.body).toMatchObject({
      status: "withdrawn",
      version: 2,
      closure: {
        cause: "withdrawn",
        by: blake.id,
        at: t.clock.now().toISOString(),
        reason: "I need to renegotiate this from scratch",
      },
    });
    expect(withdrawn.body.versions).toHaveLength(2);
    expect((await t.http.get(boundaryPath(pairId, id)).set(alex.auth).expect(200)).body).toEqual(withdrawn.body);

    // "No contact for 30 days" ends by itself once the clock passes endsAt.
    const endsAt = inDays(30);
    const timeBoxed = await agreeBoundary(t, pairId, alex, blake, {
      title: "No contact for 30 days",
      text: "No calls or messages; emergencies through my sister.",
      category: "space",
      startsAt: t.clock.now().toISOString(),
      endsAt,
    });
    expect(timeBoxed).toMatchObject({ status: "agreed", endsAt });
    t.clock.advance(30 * DAY - MINUTE);
    await t.app.sweeper.runOnce();
    alex = await refreshUser(t, alex);
    blake = await refreshUser(t, blake);
    stranger = await refreshUser(t, stranger);
    expect((await t.http.get(boundaryPath(pairId, timeBoxed.id)).set(alex.auth).expect(200)).body.status).toBe(
      "agreed",
    );
    t.clock.advance(MINUTE);
    const swept = await t.app.sweeper.runOnce();
    expect(swept.boundaryTimeBoxes).toBe(1);
    const ended = await t.http.get(boundaryPath(pairId, timeBoxed.id)).set(blake.auth).expect(200);
    expect(ended.body).toMatchObject({
      status: "ended",
      closure: { cause: "time_box_ended", by: null, at: t.clock.now().toISOString(), reason: null },
    });

    // The stranger sees nothing.
    await t.http.get(boundaryPath(pairId)).set(stranger.auth).expect(404);
    for (const path of [boundaryPath(pairId, id), boundaryPath(pairId, timeBoxed.id)]) {
      expect((await t.http.get(path).set(stranger.auth).expect(404)).body.code).toBe("NOT_FOUND");
    }
    await t.http
      .post(boundaryPath(pairId, id, "/withdraw"))
      .set(stranger.auth)
      .send({ reason: "x" })
      .expect(404);

    // One event per step, and the chain verifies.
    const events: Event[] = (await t.http.get(`/v1/pairs/${pairId}/events?limit=100`).set(alex.auth).expect(200)).body
      .data;
    expect(events.map((e) => e.type)).toEqual([
      "pair.linked",
      "boundary.proposed",
      "boundary.agreed",
      "boundary.revision_proposed",
      "boundary.revision_declined",
      "boundary.revision_proposed",
      "boundary.revised",
      "boundary.withdrawn",
      "boundary.proposed",
      "boundary.agreed",
      "boundary.ended",
    ]);
    expect(events.slice(1, 8).every((e) => e.subjectId === id)).toBe(true);
    expect(events.map((e) => e.actorId)).toEqual([
      blake.id,
      alex.id,
      blake.id,
      alex.id,
      blake.id,
      blake.id,
      alex.id,
      blake.id,
      alex.id,
      blake.id,
      null,
    ]);
    expect(events[6]?.payload).toEqual({
      version: 2,
      status: "agreed",
      fields: ["title", "reviewAt"],
      proposedBy: blake.id,
      agreedBy: alex.id,
    });
    expect(events[10]?.payload).toEqual({ status: "ended", version: 1, cause: "time_box_ended" });
    // Ids, states and field names only: no titles, texts or reasons.
    const serialized = JSON.stringify(events);
    for (const secret of secrets) expect(serialized).not.toContain(secret);
    const verify = await t.http.get(`/v1/pairs/${pairId}/verify`).set(blake.auth).expect(200);
    expect(verify.body).toMatchObject({ valid: true, lastSeq: 11, brokenAtSeq: null });
  });
});

describe("proposals", () => {
  it("are cancelled by their proposer, or declined by the other with a reason kept in the row", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    const first = await proposeBoundary(t, pairId, inviter);
    const cancelled = await t.http
      .post(boundaryPath(pairId, first.id, "/cancel"))
      .set(inviter.auth)
      .expect(200);
    expect(cancelled.body).toMatchObject({
      status: "cancelled",
      versions: [],
      closure: { cause: "cancelled_by_proposer", by: inviter.id, reason: null },
    });
    const second = await proposeBoundary(t, pairId, joiner);
    const declined = await t.http
      .post(boundaryPath(pairId, second.id, "/decline"))
      .set(inviter.auth)
      .send({ reason: "Too strict for now" })
      .expect(200);
    expect(declined.body).toMatchObject({
      status: "declined",
      versions: [],
      closure: { cause: "declined", by: inviter.id, reason: "Too strict for now" },
    });
    // Declining without a body is fine too.
    const third = await proposeBoundary(t, pairId, joiner);
    await t.http
      .post(boundaryPath(pairId, third.id, "/decline"))
      .set(inviter.auth)
      .expect(200);
    expect(await eventTypes(t, pairId, joiner)).toEqual([
      "pair.linked",
      "boundary.proposed",
      "boundary.cancelled",
      "boundary.proposed",
      "boundary.declined",
      "boundary.proposed",
      "boundary.declined",
    ]);
  });

  it("are validated: strict, bounded, a known category, a time box that ends after it starts and in the future", async () => {
    const { pairId, inviter } = await linkPair(t);
    const invalid = [
      {},
      { ...sampleBoundary, colour: "red" },
      { ...sampleBoundary, title: "" },
      { ...sampleBoundary, title: "x".repeat(121) },
      { ...sampleBoundary, text: "x".repeat(2001) },
      { ...sampleBoundary, category: "chores" },
      { ...sampleBoundary, endsAt: "2026-04-01" },
      { ...sampleBoundary, endsAt: "2026-04-01T10:00:00" },
      { ...sampleBoundary, startsAt: inDays(2), endsAt: inDays(1) },
      { ...sampleBoundary, endsAt: inDays(-1) },
    ];
    for (const body of invalid) {
      const response = await t.http.post(boundaryPath(pairId)).set(inviter.auth).send(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.code).toBe("VALIDATION_FAILED");
    }
    const ordered = await t.http
      .post(boundaryPath(pairId))
      .set(inviter.auth)
      .send({ ...sampleBoundary, startsAt: inDays(2), endsAt: inDays(1) })
      .expect(400);
    expect(ordered.body.errors).toEqual([expect.objectContaining({ path: "body.endsAt" })]);
    const past = await t.http
      .post(boundaryPath(pairId))
      .set(inviter.auth)
      .send({ ...sampleBoundary, endsAt: inDays(-1) })
      .expect(400);
    expect(past.body.errors).toEqual([{ path: "body.endsAt", message: "must be in the future" }]);
    // Offsets other than Z are instants too.
    const offset = await proposeBoundary(t, pairId, inviter, {
      title: "  Trimmed  ",
      endsAt: "2026-12-01T10:00:00+02:00",
    });
    expect(offset).toMatchObject({ title: "Trimmed", endsAt: "2026-12-01T08:00:00.000Z" });
    expect(await eventTypes(t, pairId, inviter)).toEqual(["pair.linked", "boundary.proposed"]);
  });
});

describe("revisions", () => {
  it("name what changes; null removes an optional field; a cancelled revision's number is used again", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    const boundary = await agreeBoundary(t, pairId, inviter, joiner, { reviewAt: inDays(10), endsAt: inDays(20) });
    const first = await t.http
      .post(boundaryPath(pairId, boundary.id, "/revisions"))
      .set(joiner.auth)
      .send({ reviewAt: null, category: "space" })
      .expect(201);
    expect(first.body).toMatchObject({ version: 2, reviewAt: null, category: "space", reason: null });
    expect(first.body.changedFields).toEqual(["category", "reviewAt"]);
    const cancelled = await t.http
      .post(boundaryPath(pairId, boundary.id, "/revisions/2/cancel"))
      .set(joiner.auth)
      .expect(200);
    expect(cancelled.body).toMatchObject({ version: 1, pendingRevision: null, category: "communication" });
    const again = await t.http
      .post(boundaryPath(pairId, boundary.id, "/revisions"))
      .set(inviter.auth)
      .send({ endsAt: null })
      .expect(201);
    expect(again.body).toMatchObject({ version: 2, endsAt: null, changedFields: ["endsAt"] });
    const accepted = await t.http
      .post(boundaryPath(pairId, boundary.id, "/revisions/2/accept"))
      .set(joiner.auth)
      .expect(200);
    expect(accepted.body).toMatchObject({ version: 2, endsAt: null, reviewAt: boundary.reviewAt });
    const third = await t.http
      .post(boundaryPath(pairId, boundary.id, "/revisions"))
      .set(joiner.auth)
      .send({ text: "Version three" })
      .expect(201);
    expect(third.body.version).toBe(3);
    expect(await eventTypes(t, pairId, inviter)).toEqual([
      "pair.linked",
      "boundary.proposed",
      "boundary.agreed",
      "boundary.revision_proposed",
      "boundary.revision_cancelled",
      "boundary.revision_proposed",
      "boundary.revised",
      "boundary.revision_proposed",
    ]);
  });

  it("are validated against the version in force", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    const boundary = await agreeBoundary(t, pairId, inviter, joiner, { startsAt: inDays(1), endsAt: inDays(5) });
    const path = boundaryPath(pairId, boundary.id, "/revisions");
    for (const body of [
      {},
      { reason: "only a reason" },
      { title: "" },
      { colour: "red" },
      { text: "x".repeat(2001) },
    ]) {
      const response = await t.http.post(path).set(inviter.auth).send(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
    }
    // The new end would come before the start in force.
    const before = await t.http
      .post(path)
      .set(inviter.auth)
      .send({ endsAt: inDays(0.5) })
      .expect(400);
    expect(before.body.errors).toEqual([{ path: "body.endsAt", message: "must leave endsAt after startsAt" }]);
    const past = await t.http
      .post(path)
      .set(inviter.auth)
      .send({ startsAt: inDays(-3), endsAt: inDays(-2) });
    expect(past.status).toBe(400);
    expect(past.body.errors).toEqual([{ path: "body.endsAt", message: "must be in the future" }]);
    // Removing the start makes any end valid.
    await t.http.post(path).set(inviter.auth).send({ startsAt: null }).expect(201);
  });
});

describe("listing", () => {
  it("filters by status and category, newest first, cursor-paginated", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    const ids: Record<string, string> = {};
    ids.a = (await agreeBoundary(t, pairId, inviter, joiner, { category: "finances" })).id;
    t.clock.advance(1000);
    ids.b = (await proposeBoundary(t, pairId, joiner, { category: "finances" })).id;
    t.clock.advance(1000);
    ids.c = (await agreeBoundary(t, pairId, joiner, inviter, { category: "space" })).id;
    t.clock.advance(1000);
    ids.d = (await proposeBoundary(t, pairId, inviter, { category: "social" })).id;
    t.clock.advance(1000);
    ids.e = (await agreeBoundary(t, pairId, inviter, joiner, { category: "finances" })).id;
    await t.http
      .post(boundaryPath(pairId, ids.d, "/cancel"))
      .set(inviter.auth)
      .expect(200);

    const list = async (query: string) => {
      const response = await t.http
        .get(`${boundaryPath(pairId)}?${query}`)
        .set(joiner.auth)
        .expect(200);
      return response.body as { data: { id: string }[]; nextCursor: string | null };
    };
    const all = await list("");
    expect(all.data.map((b) => b.id)).toEqual([ids.e, ids.d, ids.c, ids.b, ids.a]);
    expect(all.nextCursor).toBeNull();
    expect((await list("status=agreed")).data.map((b) => b.id)).toEqual([ids.e, ids.c, ids.a]);
    expect((await list("category=finances")).data.map((b) => b.id)).toEqual([ids.e, ids.b, ids.a]);
    expect((await list("status=agreed,proposed&category=finances,social")).data.map((b) => b.id)).toEqual([
      ids.e,
      ids.b,
      ids.a,
    ]);
    expect((await list("status=cancelled")).data.map((b) => b.id)).toEqual([ids.d]);

    const page1 = await list("status=agreed&limit=2");
    expect(page1.data.map((b) => b.id)).toEqual([ids.e, ids.c]);
    expect(page1.nextCursor).toEqual(expect.any(String));
    const page2 = await list(`status=agreed&limit=2&cursor=${page1.nextCursor}`);
    expect(page2.data.map((b) => b.id)).toEqual([ids.a]);
    expect(page2.nextCursor).toBeNull();
    // A new boundary does not shift later pages.
    await proposeBoundary(t, pairId, inviter);
    expect((await list(`limit=2&cursor=${(await list("limit=2")).nextCursor}`)).data.length).toBe(2);

    // Items carry their versions.
    expect(all.data[0]).toMatchObject({ versions: [expect.objectContaining({ version: 1 })] });

    for (const query of ["status=open", "category=chores", "limit=0", "limit=101", "sort=asc", "cursor=bm9wZQ"]) {
      const bad = await t.http
        .get(`${boundaryPath(pairId)}?${query}`)
        .set(joiner.auth)
        .expect(400);
      expect(bad.body.code).toBe("VALIDATION_FAILED");
    }
  });
});

describe("concurrency and retries", () => {
  it("carries an ETag (rowVersion) that moves on every write; If-Match makes writes conditional; If-None-Match gives 304", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    const proposed = await proposeBoundary(t, pairId, inviter);
    const path = boundaryPath(pairId, proposed.id);
    const read = await t.http.get(path).set(joiner.auth).expect(200);
    expect(read.headers.etag).toBe('"1"');
    await t.http.get(path).set(joiner.auth).set("If-None-Match", '"1"').expect(304);

    const stale = await t.http.post(`${path}/accept`).set(joiner.auth).set("If-Match", '"7"').expect(412);
    expect(stale.body.code).toBe("PRECONDITION_FAILED");
    const accepted = await t.http.post(`${path}/accept`).set(joiner.auth).set("If-Match", '"1"').expect(200);
    expect(accepted.headers.etag).toBe('"2"');

    // A revision moves it too, so the answer to a revision can be made conditional on the one you read.
    const revision = await t.http.post(`${path}/revisions`).set(joiner.auth).send({ text: "Changed" }).expect(201);
    expect(revision.headers.etag).toBe('"3"');
    await t.http.post(`${path}/revisions/2/cancel`).set(joiner.auth).expect(200);
    await t.http.post(`${path}/revisions`).set(joiner.auth).send({ text: "Changed again" }).expect(201);
    // The inviter read "3"; since then revision 2 was replaced by another revision 2.
    const replaced = await t.http.post(`${path}/revisions/2/accept`).set(inviter.auth).set("If-Match", '"3"');
    expect(replaced.status).toBe(412);
    // 412 is checked before the state rules (409).
    const withdrawnTooLate = await t.http.post(`${path}/cancel`).set(inviter.auth).set("If-Match", '"1"').expect(412);
    expect(withdrawnTooLate.body.code).toBe("PRECONDITION_FAILED");
    await t.http.post(`${path}/revisions/2/accept`).set(inviter.auth).set("If-Match", '"5"').expect(200);
    expect((await t.http.get(path).set(inviter.auth).expect(200)).body).toMatchObject({ version: 2, rowVersion: 6 });
  });

  it("replays a write sent again with the same Idempotency-Key, without a second event", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    const body = { ...sampleBoundary, title: "Replayed once" };
    const first = await t.http
      .post(boundaryPath(pairId))
      .set(inviter.auth)
      .set("Idempotency-Key", "boundary-1")
      .send(body)
      .expect(201);
    const again = await t.http
      .post(boundaryPath(pairId))
      .set(inviter.auth)
      .set("Idempotency-Key", "boundary-1")
      .send(body)
      .expect(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.headers.location).toBe(first.headers.location);
    const accept = () =>
      t.http
        .post(boundaryPath(pairId, first.body.id, "/accept"))
        .set(joiner.auth)
        .set("Idempotency-Key", "agree-1");
    const accepted = await accept().expect(200);
    const replayed = await accept().expect(200);
    expect(replayed.body).toEqual(accepted.body);
    expect(replayed.headers.etag).toBe('"2"');
    expect((await t.http.get(boundaryPath(pairId)).set(inviter.auth).expect(200)).body.data).toHaveLength(1);
    expect(await eventTypes(t, pairId, inviter)).toEqual(["pair.linked", "boundary.proposed", "boundary.agreed"]);
  });

  it("lets exactly one of two concurrent answers win", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    const proposed = await proposeBoundary(t, pairId, inviter);
    const [accept, decline] = await Promise.all([
      t.http.post(boundaryPath(pairId, proposed.id, "/accept")).set(joiner.auth),
      t.http.post(boundaryPath(pairId, proposed.id, "/decline")).set(joiner.auth),
    ]);
    expect([accept.status, decline.status].sort()).toEqual([200, 409]);
    const loser = accept.status === 409 ? accept : decline;
    expect(loser.body.code).toBe("BOUNDARY_NOT_PROPOSED");
    const agreed = await agreeBoundary(t, pairId, inviter, joiner);
    const revisions = await Promise.all(
      [inviter, joiner].map((who) =>
        t.http
          .post(boundaryPath(pairId, agreed.id, "/revisions"))
          .set(who.auth)
          .send({ text: `From ${who.id}` }),
      ),
    );
    expect(revisions.map((r) => r.status).sort()).toEqual([201, 409]);
    expect(revisions.find((r) => r.status === 409)?.body.code).toBe("REVISION_PENDING");
    expect((await t.http.get(`/v1/pairs/${pairId}/verify`).set(inviter.auth).expect(200)).body.valid).toBe(true);
  });
});
