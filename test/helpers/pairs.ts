import type { TestApp } from "./app.js";
import { registerUser, type SignedInUser } from "./users.js";

export type LinkedPair = { pairId: string; inviter: SignedInUser; joiner: SignedInUser };

/** Two new accounts linked through an invite, as two real partners would. */
export async function linkPair(
  t: Pick<TestApp, "http">,
  inviter?: SignedInUser,
  joiner?: SignedInUser,
): Promise<LinkedPair> {
  const a = inviter ?? (await registerUser(t, { displayName: "Alex" }));
  const b = joiner ?? (await registerUser(t, { displayName: "Blake" }));
  const invite = await t.http.post("/v1/invites").set(a.auth).expect(201);
  const pair = await t.http.post("/v1/pairs").set(b.auth).send({ inviteCode: invite.body.code }).expect(201);
  return { pairId: pair.body.id, inviter: a, joiner: b };
}
