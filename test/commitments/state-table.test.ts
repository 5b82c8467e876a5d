import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CommitmentAction, type CommitmentStatus, commitmentRules } from "../../src/modules/commitments/index.js";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { DAY, MINUTE } from "../helpers/clock.js";
import { createCommitment, step } from "../helpers/commitments.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { type LinkedPair, linkPair } from "../helpers/pairs.js";
import type { SignedInUser } from "../helpers/users.js";

/**
 * Walks the commitment state table: every (state, action, member) is
 * driven through the API. Allowed by the table (the member is the rule's
 * `by`, the state is in its `from`): it succeeds and lands in its `to`
 * (the same state when the rule names none). Anything else answers 409:
 * `OWNER_ONLY` / `PARTNER_ONLY` for the wrong member (checked first), else
 * the rule's `refused` code, and the commitment stays as it was.
 */

let t: TestApp;
let pair: LinkedPair;
beforeAll(async () => {
  // The lapsed cases move the clock by minutes; tokens must outlive that.
  t = await buildTestApp({ passwordHasher: fastHasher, env: { KEPT_ACCESS_TOKEN_TTL_SECONDS: "86400" } });
  pair = await linkPair(t);
});
afterAll(() => t.close());

type Member = "owner" | "partner";
const as = (member: Member): SignedInUser => (member === "owner" ? pair.inviter : pair.joiner);
const inDays = (days: number) => new Date(t.clock.now().getTime() + days * DAY).toISOString();

/** Reaches `state` through the API (reports are misses, so each can be acknowledged); answers the commitment id. */
async function commitmentIn(state: CommitmentStatus): Promise<string> {
  const { pairId } = pair;
  if (state === "lapsed") {
    const { id } = await createCommitment(t, pairId, as("owner"), {
      dueAt: new Date(t.clock.now().getTime() + MINUTE).toISOString(),
      graceMinutes: 0,
    });
    t.clock.advance(2 * MINUTE);
    await t.app.sweeper.runOnce();
    return id;
  }
  const { id } = await createCommitment(t, pairId, as("owner"), { dueAt: inDays(7) });
  if (state === "withdrawn")
    await step(t, pairId, as("owner"), id, "withdraw", { reason: "Plans changed" }).expect(200);
  if (state === "reported" || state === "confirmed" || state === "disputed") {
    await step(t, pairId, as("owner"), id, "report", { outcome: "missed" }).expect(200);
  }
  if (state === "confirmed") await step(t, pairId, as("partner"), id, "confirm").expect(200);
  if (state === "disputed") await step(t, pairId, as("partner"), id, "dispute", { note: "Not so" }).expect(200);
  return id;
}

/** What an action also needs besides its state: a pending proposal to answer, an acknowledgement to accept. */
async function prepare(action: CommitmentAction, state: CommitmentStatus, id: string): Promise<void> {
  const answersReschedule = ["acceptReschedule", "declineReschedule", "cancelReschedule"].includes(action);
  if (answersReschedule && state === "open") {
    await step(t, pair.pairId, as("owner"), id, "reschedule", { dueAt: inDays(8) }).expect(200);
  }
  if (action === "acceptAcknowledgement" && commitmentRules.acknowledge.from.includes(state)) {
    await step(t, pair.pairId, as("owner"), id, "acknowledgement", { text: "I forgot; an alarm now" }).expect(200);
  }
}

/** The request each action is. */
function act(action: CommitmentAction, member: Member, id: string) {
  const { pairId } = pair;
  const user = as(member);
  switch (action) {
    case "edit":
      return t.http.patch(`/v1/pairs/${pairId}/commitments/${id}`).set(user.auth).send({ title: "Edited" });
    case "report":
      return step(t, pairId, user, id, "report", { outcome: "kept" });
    case "confirm":
      return step(t, pairId, user, id, "confirm");
    case "dispute":
      return step(t, pairId, user, id, "dispute", { note: "Not so" });
    case "withdraw":
      return step(t, pairId, user, id, "withdraw", { reason: "Plans changed" });
    case "proposeReschedule":
      return step(t, pairId, user, id, "reschedule", { dueAt: inDays(9) });
    case "acceptReschedule":
      return step(t, pairId, user, id, "reschedule/accept");
    case "declineReschedule":
      return step(t, pairId, user, id, "reschedule/decline");
    case "cancelReschedule":
      return step(t, pairId, user, id, "reschedule/cancel");
    case "acknowledge":
      return step(t, pairId, user, id, "acknowledgement", { text: "I forgot; an alarm now" });
    case "acceptAcknowledgement":
      return step(t, pairId, user, id, "acknowledgement/accept");
  }
}

const states: CommitmentStatus[] = ["open", "reported", "confirmed", "disputed", "lapsed", "withdrawn"];
const actions = Object.keys(commitmentRules) as CommitmentAction[];
const members: Member[] = ["owner", "partner"];

describe("the commitment state table, walked through the API", () => {
  it("names every state and action the walk covers", () => {
    for (const rule of Object.values(commitmentRules)) {
      for (const from of rule.from) expect(states).toContain(from);
      if (rule.to) expect(states).toContain(rule.to);
    }
  });

  for (const state of states) {
    for (const action of actions) {
      for (const member of members) {
        const rule = commitmentRules[action];
        const rightMember = rule.by === member;
        const allowed = rightMember && rule.from.includes(state);
        const to = rule.to ?? state;
        const refusal = rightMember ? rule.refused : rule.by === "owner" ? "OWNER_ONLY" : "PARTNER_ONLY";
        it(`${state} × ${action} by the ${member} → ${allowed ? to : `409 ${refusal}`}`, async () => {
          const id = await commitmentIn(state);
          await prepare(action, state, id);
          const response = await act(action, member, id);
          if (allowed) {
            expect(response.status, JSON.stringify(response.body)).toBe(200);
            expect(response.body.status).toBe(to);
          } else {
            expect(response.status, JSON.stringify(response.body)).toBe(409);
            expect(response.body.code).toBe(refusal);
          }
          const after = await t.http.get(`/v1/pairs/${pair.pairId}/commitments/${id}`).set(as("owner").auth);
          expect(after.body.status).toBe(allowed ? to : state);
        });
      }
    }
  }
});
