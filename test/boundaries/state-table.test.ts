import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoundaryAction, type BoundaryState, transitions } from "../../src/modules/boundaries/index.js";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { agreeBoundary, boundaryPath, proposeBoundary } from "../helpers/boundaries.js";
import { MINUTE } from "../helpers/clock.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { type LinkedPair, linkPair } from "../helpers/pairs.js";
import type { SignedInUser } from "../helpers/users.js";

/**
 * Walks the boundary state table: every (state, action, member) is driven
 * through the API. Allowed by the table: it succeeds and lands in its `to`.
 * Anything else answers 409 with the rule's code (docs/domain.md, "Refusals") and
 * the boundary stays as it was. The system's actions are driven by what
 * causes them (a time box passing and the sweep, a partner leaving) from
 * every state: where the table lists one it lands in its `to`, elsewhere
 * nothing changes.
 */

let t: TestApp;
beforeAll(async () => {
  // Time boxes move the clock by minutes, many times; tokens must outlive that.
  t = await buildTestApp({ passwordHasher: fastHasher, env: { KEPT_ACCESS_TOKEN_TTL_SECONDS: "86400" } });
});
afterAll(() => t.close());

/** `proposer` proposed what is being answered (the boundary and, in `revising`, its revision); `other` answers. */
type Member = "proposer" | "other";
type World = LinkedPair & { proposer: SignedInUser; other: SignedInUser };
const worldOf = (pair: LinkedPair): World => ({ ...pair, proposer: pair.inviter, other: pair.joiner });

const inMinutes = (minutes: number) => new Date(t.clock.now().getTime() + minutes * MINUTE).toISOString();

/** The state the API shows: `revising` is an agreed boundary with a pending revision. */
async function stateOf(world: World, id: string): Promise<BoundaryState> {
  const { body } = await t.http.get(boundaryPath(world.pairId, id)).set(world.proposer.auth).expect(200);
  return body.status === "agreed" && body.pendingRevision ? "revising" : body.status;
}

/** Reaches `state` through the API; `endsAt` gives it a time box (`ended` always has one, already passed). */
async function boundaryIn(world: World, state: BoundaryState, endsAt?: string): Promise<string> {
  const { pairId, proposer, other } = world;
  const input = endsAt ? { endsAt } : {};
  if (state === "ended") {
    const { id } = await agreeBoundary(t, pairId, proposer, other, { endsAt: inMinutes(1) });
    t.clock.advance(2 * MINUTE);
    await t.app.sweeper.runOnce();
    return id;
  }
  if (state === "proposed" || state === "declined" || state === "cancelled") {
    const { id } = await proposeBoundary(t, pairId, proposer, input);
    if (state === "declined")
      await t.http
        .post(boundaryPath(pairId, id, "/decline"))
        .set(other.auth)
        .expect(200);
    if (state === "cancelled")
      await t.http
        .post(boundaryPath(pairId, id, "/cancel"))
        .set(proposer.auth)
        .expect(200);
    return id;
  }
  const { id } = await agreeBoundary(t, pairId, proposer, other, input);
  const path = (rest: string) => boundaryPath(pairId, id, rest);
  if (state === "revising") {
    await t.http.post(path("/revisions")).set(proposer.auth).send({ text: "Revised text" }).expect(201);
  }
  if (state === "withdrawn") {
    await t.http.post(path("/withdraw")).set(proposer.auth).send({ reason: "Stepping back" }).expect(200);
  }
  return id;
}

const memberActions = [
  "accept",
  "decline",
  "cancel",
  "proposeRevision",
  "acceptRevision",
  "declineRevision",
  "cancelRevision",
  "withdraw",
] as const satisfies readonly BoundaryAction[];
type MemberAction = (typeof memberActions)[number];

/** The request each action is. A revision is answered by the number it would have (2: every walk starts at version 1). */
function act(world: World, action: MemberAction, member: Member, id: string) {
  const path = (rest: string) => boundaryPath(world.pairId, id, rest);
  const post = (rest: string) => t.http.post(path(rest)).set(world[member].auth);
  switch (action) {
    case "accept":
      return post("/accept");
    case "decline":
      return post("/decline").send({ reason: "Not for us" });
    case "cancel":
      return post("/cancel");
    case "proposeRevision":
      return post("/revisions").send({ text: "Another revision" });
    case "acceptRevision":
      return post("/revisions/2/accept");
    case "declineRevision":
      return post("/revisions/2/decline").send({ reason: "Not for us" });
    case "cancelRevision":
      return post("/revisions/2/cancel");
    case "withdraw":
      return post("/withdraw").send({ reason: "Stepping back" });
  }
}

/** The code an action answers from a state the table does not list it in (docs/domain.md, "Refusals"). */
function refusedFrom(state: BoundaryState, action: MemberAction): string {
  switch (action) {
    case "accept":
    case "decline":
    case "cancel":
      return "BOUNDARY_NOT_PROPOSED";
    case "proposeRevision":
      return state === "revising" ? "REVISION_PENDING" : "BOUNDARY_NOT_AGREED";
    case "acceptRevision":
    case "declineRevision":
    case "cancelRevision":
      return "REVISION_NOT_PENDING";
    case "withdraw":
      return "BOUNDARY_NOT_AGREED";
  }
}

const states: BoundaryState[] = ["proposed", "agreed", "revising", "declined", "cancelled", "withdrawn", "ended"];
const members: Member[] = ["proposer", "other"];
const transitionOf = (from: BoundaryState, action: BoundaryAction) =>
  transitions.find((transition) => transition.from === from && transition.action === action);

describe("the boundary state table, walked through the API", () => {
  let world: World;
  beforeAll(async () => {
    world = worldOf(await linkPair(t));
  });

  it("names only the states and actions the walk covers", () => {
    const systemActions: BoundaryAction[] = ["expire", "endTimeBox", "endWithPair"];
    for (const { from, action, to, who } of transitions) {
      expect(states).toContain(from);
      expect(states).toContain(to);
      expect([...memberActions, ...systemActions]).toContain(action);
      expect(who === "system").toBe(systemActions.includes(action));
    }
  });

  for (const state of states) {
    for (const action of memberActions) {
      for (const member of members) {
        const transition = transitionOf(state, action);
        const allowed = transition !== undefined && (transition.who === "either" || transition.who === member);
        const refusal =
          transition === undefined
            ? refusedFrom(state, action)
            : transition.who === "proposer"
              ? "NOT_PROPOSER"
              : "OWN_PROPOSAL";
        const outcome = allowed ? transition?.to : `409 ${refusal}`;
        it(`${state} × ${action} by the ${member} → ${outcome}`, async () => {
          const id = await boundaryIn(world, state);
          const response = await act(world, action, member, id);
          if (allowed) {
            expect(response.status, JSON.stringify(response.body)).toBe(action === "proposeRevision" ? 201 : 200);
          } else {
            expect(response.status, JSON.stringify(response.body)).toBe(409);
            expect(response.body.code).toBe(refusal);
          }
          expect(await stateOf(world, id)).toBe(allowed ? transition?.to : state);
        });
      }
    }
  }

  for (const state of states) {
    // The sweep expires a proposal and ends an agreed boundary: one cause, two rows of the table.
    const transition = transitionOf(state, "expire") ?? transitionOf(state, "endTimeBox");
    it(`${state}, its time box passing → ${transition ? `${transition.action} → ${transition.to}` : "unchanged"}`, async () => {
      expect(transitionOf(state, "expire") && transitionOf(state, "endTimeBox")).toBeUndefined();
      const id = await boundaryIn(world, state, inMinutes(1));
      t.clock.advance(2 * MINUTE);
      await t.app.sweeper.runOnce();
      expect(await stateOf(world, id)).toBe(transition?.to ?? state);
    });
  }

  for (const state of states) {
    const transition = transitionOf(state, "endWithPair");
    it(`${state}, a partner leaving → ${transition ? transition.to : "unchanged"}`, async () => {
      const own = worldOf(await linkPair(t));
      const id = await boundaryIn(own, state);
      await t.http.post(`/v1/pairs/${own.pairId}/leave`).set(own.other.auth).expect(200);
      expect(await stateOf(own, id)).toBe(transition?.to ?? state);
    });
  }
});
