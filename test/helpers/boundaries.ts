import type { TestApp } from "./app.js";
import type { SignedInUser } from "./users.js";

export type BoundaryInput = {
  title: string;
  text: string;
  category: "communication" | "finances" | "social" | "privacy" | "space" | "other";
  startsAt?: string;
  endsAt?: string;
  reviewAt?: string;
};

export const sampleBoundary: BoundaryInput = {
  title: "Phones stay out of the bedroom",
  text: "After 22:00 both phones charge in the kitchen.",
  category: "communication",
};

export const boundaryPath = (pairId: string, id?: string, rest = "") =>
  `/v1/pairs/${pairId}/boundaries${id ? `/${id}` : ""}${rest}`;

/** `as` proposes a boundary (201); answers its body. */
export async function proposeBoundary(
  t: Pick<TestApp, "http">,
  pairId: string,
  as: SignedInUser,
  input: Partial<BoundaryInput> = {},
) {
  const response = await t.http
    .post(boundaryPath(pairId))
    .set(as.auth)
    .send({ ...sampleBoundary, ...input })
    .expect(201);
  return response.body;
}

/** `proposer` proposes, `partner` accepts: an agreed boundary at version 1. */
export async function agreeBoundary(
  t: Pick<TestApp, "http">,
  pairId: string,
  proposer: SignedInUser,
  partner: SignedInUser,
  input: Partial<BoundaryInput> = {},
) {
  const proposed = await proposeBoundary(t, pairId, proposer, input);
  const agreed = await t.http
    .post(boundaryPath(pairId, proposed.id, "/accept"))
    .set(partner.auth)
    .expect(200);
  return agreed.body;
}

/** Event types of the pair's timeline, in seq order. */
export async function eventTypes(t: Pick<TestApp, "http">, pairId: string, as: SignedInUser): Promise<string[]> {
  const response = await t.http.get(`/v1/pairs/${pairId}/events?limit=100`).set(as.auth).expect(200);
  return response.body.data.map((event: { type: string }) => event.type);
}
