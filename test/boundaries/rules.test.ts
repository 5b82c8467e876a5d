import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { boundaryEventTypes, transitions } from "../../src/modules/boundaries/index.js";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { agreeBoundary, boundaryPath, proposeBoundary } from "../helpers/boundaries.js";
import { DAY } from "../helpers/clock.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { linkPair } from "../helpers/pairs.js";
import type { SignedInUser } from "../helpers/users.js";

let t: TestApp;
beforeAll(async () => {
  // Tests move the clock by hours; tokens must outlive that.
  t = await buildTestApp({ passwordHasher: fastHasher, env: { KEPT_ACCESS_TOKEN_TTL_SECONDS: "86400" } });
});
afterAll(() => t.close());

const inDays = (days: number) => new Date(t.clock.now().getTime() + days * DAY).toISOString();

/** Posts and expects a 409 with `code`; answers nothing (the state must not have changed). */
async function refused(as: SignedInUser, path: string, code: string, body?: object) {
  let request = t.http.post(path).set(as.auth);
  if (body) request = request.send(body);
  const response = await request;
  expect(response.status, `${path}: ${JSON.stringify(response.body)}`).toBe(409);
  expect(response.body.code).toBe(code);
}

describe("illegal moves answer 409 with the rule's code, and change nothing", () => {
  it("answering your own proposal, cancelling your partner's, answering what is no longer proposed", async () => {
    const { pairId, inviter: alex, joiner: blake } = await linkPair(t);
    const proposal = await proposeBoundary(t, pairId, alex);
    const path = (rest: string) => boundaryPath(pairId, proposal.id, rest);
    await refused(alex, path("/accept"), "OWN_PROPOSAL");
    await refused(alex, path("/decline"), "OWN_PROPOSAL", { reason: "changed my mind" });
    await refused(blake, path("/cancel"), "NOT_PROPOSER");
    await refused(blake, path("/withdraw"), "BOUNDARY_NOT_AGREED", { reason: "not agreed yet" });
    await refused(blake, path("/revisions"), "BOUNDARY_NOT_AGREED", { text: "Revised before agreeing" });
    await refused(blake, path("/revisions/1/accept"), "REVISION_NOT_PENDING");
    await refused(alex, path("/revisions/2/cancel"), "REVISION_NOT_PENDING");

    await t.http.post(path("/accept")).set(blake.auth).expect(200);
    await refused(blake, path("/accept"), "BOUNDARY_NOT_PROPOSED");
    await refused(blake, path("/decline"), "BOUNDARY_NOT_PROPOSED");
    await refused(alex, path("/cancel"), "BOUNDARY_NOT_PROPOSED");

    const declined = await proposeBoundary(t, pairId, blake);
    await t.http
      .post(boundaryPath(pairId, declined.id, "/decline"))
      .set(alex.auth)
      .expect(200);
    await refused(alex, boundaryPath(pairId, declined.id, "/accept"), "BOUNDARY_NOT_PROPOSED");
    await refused(blake, boundaryPath(pairId, declined.id, "/cancel"), "BOUNDARY_NOT_PROPOSED");
    await refused(blake, boundaryPath(pairId, declined.id, "/revisions"), "BOUNDARY_NOT_AGREED", { text: "Again?" });

    const current = await t.http.get(path("")).set(alex.auth).expect(200);
    expect(current.body).toMatchObject({ status: "agreed", version: 1, rowVersion: 2 });
  });

  it("revisions: two pending at once, answering your own, cancelling your partner's, a wrong number, no change", async () => {
    const { pairId, inviter: alex, joiner: blake } = await linkPair(t);
    const boundary = await agreeBoundary(t, pairId, alex, blake);
    const path = (rest: string) => boundaryPath(pairId, boundary.id, rest);
    await refused(blake, path("/revisions"), "REVISION_CHANGES_NOTHING", { title: boundary.title });
    await t.http.post(path("/revisions")).set(blake.auth).send({ text: "A revision" }).expect(201);
    await refused(alex, path("/revisions"), "REVISION_PENDING", { text: "Another revision" });
    await refused(blake, path("/revisions"), "REVISION_PENDING", { text: "Another revision" });
    await refused(blake, path("/revisions/2/accept"), "OWN_PROPOSAL");
    await refused(blake, path("/revisions/2/decline"), "OWN_PROPOSAL");
    await refused(alex, path("/revisions/2/cancel"), "NOT_PROPOSER");
    await refused(alex, path("/revisions/3/accept"), "REVISION_NOT_PENDING");
    await refused(alex, path("/revisions/1/accept"), "REVISION_NOT_PENDING");
    await t.http.post(path("/revisions/2/decline")).set(alex.auth).expect(200);
    await refused(alex, path("/revisions/2/accept"), "REVISION_NOT_PENDING");
    await refused(blake, path("/revisions/2/cancel"), "REVISION_NOT_PENDING");
    // A malformed revision number is not found, like a malformed id.
    for (const n of ["two", "0", "-1", "2.0", "99999999999"]) {
      expect(
        (
          await t.http
            .post(path(`/revisions/${n}/accept`))
            .set(alex.auth)
            .expect(404)
        ).body.code,
      ).toBe("NOT_FOUND");
    }
    const current = await t.http.get(path("")).set(alex.auth).expect(200);
    expect(current.body).toMatchObject({ version: 1, pendingRevision: null });
  });

  it("withdrawn and ended boundaries cannot be revised, withdrawn again or answered", async () => {
    const { pairId, inviter: alex, joiner: blake } = await linkPair(t);
    const boundary = await agreeBoundary(t, pairId, alex, blake);
    const path = (rest: string) => boundaryPath(pairId, boundary.id, rest);
    await t.http.post(path("/revisions")).set(alex.auth).send({ text: "Pending when withdrawn" }).expect(201);
    const withdrawn = await t.http.post(path("/withdraw")).set(alex.auth).send({ reason: "Stepping back" });
    expect(withdrawn.body).toMatchObject({ status: "withdrawn", pendingRevision: null });
    await refused(blake, path("/revisions"), "BOUNDARY_NOT_AGREED", { text: "Revising a withdrawn one" });
    await refused(blake, path("/withdraw"), "BOUNDARY_NOT_AGREED", { reason: "Again" });
    await refused(blake, path("/revisions/2/accept"), "REVISION_NOT_PENDING");
    await refused(blake, path("/accept"), "BOUNDARY_NOT_PROPOSED");

    const boxed = await agreeBoundary(t, pairId, alex, blake, { endsAt: inDays(0.25) });
    t.clock.advance(DAY / 4);
    await t.app.sweeper.runOnce();
    await refused(alex, boundaryPath(pairId, boxed.id, "/revisions"), "BOUNDARY_NOT_AGREED", { endsAt: inDays(3) });
    await refused(alex, boundaryPath(pairId, boxed.id, "/withdraw"), "BOUNDARY_NOT_AGREED", { reason: "Over" });
  });

  it("nothing extends a time box whose end has come, even before the sweep has run", async () => {
    const { pairId, inviter: alex, joiner: blake } = await linkPair(t);
    const proposal = await proposeBoundary(t, pairId, alex, { endsAt: inDays(0.25) });
    const agreed = await agreeBoundary(t, pairId, alex, blake, { endsAt: inDays(0.25) });
    const revised = await agreeBoundary(t, pairId, alex, blake, { endsAt: inDays(0.25) });
    await t.http
      .post(boundaryPath(pairId, revised.id, "/revisions"))
      .set(alex.auth)
      .send({ endsAt: inDays(10) })
      .expect(201);
    t.clock.advance(DAY / 4);
    await refused(blake, boundaryPath(pairId, proposal.id, "/accept"), "TIME_BOX_OVER");
    await refused(blake, boundaryPath(pairId, agreed.id, "/revisions"), "TIME_BOX_OVER", { text: "Longer" });
    await refused(blake, boundaryPath(pairId, revised.id, "/revisions/2/accept"), "TIME_BOX_OVER");
    // Stepping away is always possible.
    await t.http
      .post(boundaryPath(pairId, agreed.id, "/withdraw"))
      .set(blake.auth)
      .send({ reason: "Done" })
      .expect(200);
  });

  it("an ended pair is read-only: every write answers PAIR_ENDED, reads still work", async () => {
    const { pairId, inviter: alex, joiner: blake } = await linkPair(t);
    const boundary = await agreeBoundary(t, pairId, alex, blake);
    const proposal = await proposeBoundary(t, pairId, blake);
    await t.http.post(`/v1/pairs/${pairId}/leave`).set(blake.auth).expect(200);
    await refused(alex, boundaryPath(pairId), "PAIR_ENDED", { title: "After", text: "After", category: "other" });
    await refused(alex, boundaryPath(pairId, proposal.id, "/accept"), "PAIR_ENDED");
    await refused(alex, boundaryPath(pairId, boundary.id, "/revisions"), "PAIR_ENDED", { text: "After" });
    await refused(alex, boundaryPath(pairId, boundary.id, "/withdraw"), "PAIR_ENDED", { reason: "After" });
    for (const user of [alex, blake]) {
      await t.http.get(boundaryPath(pairId, boundary.id)).set(user.auth).expect(200);
      expect((await t.http.get(boundaryPath(pairId)).set(user.auth).expect(200)).body.data).toHaveLength(2);
    }
  });

  it("checks in the design's order: 404 before 400 before 412 before 409", async () => {
    const { pairId, inviter: alex, joiner: blake } = await linkPair(t);
    const proposal = await proposeBoundary(t, pairId, alex);
    const other = await linkPair(t);
    const foreign = await proposeBoundary(t, other.pairId, other.inviter);
    // Another pair's boundary, or a malformed id, is not found before its bad body is looked at.
    for (const id of [foreign.id, "not-a-uuid", "0190a0a0-0000-7000-8000-000000000000"]) {
      const response = await t.http
        .post(boundaryPath(pairId, id, "/decline"))
        .set(blake.auth)
        .send({ colour: 1 });
      expect(response.status).toBe(404);
      expect(response.body.code).toBe("NOT_FOUND");
    }
    await t.http
      .post(boundaryPath(pairId, proposal.id, "/decline"))
      .set(blake.auth)
      .send({ colour: 1 })
      .expect(400);
    const stale = await t.http
      .post(boundaryPath(pairId, proposal.id, "/accept"))
      .set(alex.auth)
      .set("If-Match", '"9"');
    expect(stale.status).toBe(412);
    await refused(alex, boundaryPath(pairId, proposal.id, "/accept"), "OWN_PROPOSAL");
    await t.http
      .post(boundaryPath(pairId, proposal.id, "/accept"))
      .set(blake.auth)
      .send({ extra: true })
      .expect(400);
  });
});

describe("the state machine", () => {
  it("is one table, and docs/domain.md shows every row of it", async () => {
    const domain = await readFile(new URL("../../docs/domain.md", import.meta.url), "utf8");
    for (const { from, action, to, who } of transitions) {
      expect(domain).toContain(`| \`${from}\` | \`${action}\` | \`${to}\` | ${who} |`);
    }
    const pairs = transitions.map(({ from, action }) => `${from}×${action}`);
    expect(new Set(pairs).size).toBe(pairs.length);
    for (const type of boundaryEventTypes) expect(domain).toContain(`| \`boundary.${type}\` |`);
  });
});
