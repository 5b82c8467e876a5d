import { randomBytes } from "node:crypto";
import type { TestApp } from "./app.js";

export type SignedInUser = {
  id: string;
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
  auth: { Authorization: string };
};

/** Registers a new account through the API and answers its tokens. */
export async function registerUser(
  t: Pick<TestApp, "http">,
  overrides: Partial<{ email: string; password: string; displayName: string; timeZone: string }> = {},
): Promise<SignedInUser> {
  const email = overrides.email ?? `user-${randomBytes(4).toString("hex")}@example.com`;
  const password = overrides.password ?? "correct horse battery";
  const response = await t.http
    .post("/v1/auth/register")
    .send({
      email,
      password,
      displayName: overrides.displayName ?? "Sam",
      timeZone: overrides.timeZone ?? "Europe/Paris",
    })
    .expect(201);
  return {
    id: response.body.user.id,
    email,
    password,
    accessToken: response.body.accessToken,
    refreshToken: response.body.refreshToken,
    auth: { Authorization: `Bearer ${response.body.accessToken}` },
  };
}

/** Fresh tokens for a user whose access token expired while a test moved the clock. */
export async function refreshUser(t: Pick<TestApp, "http">, user: SignedInUser): Promise<SignedInUser> {
  const response = await t.http.post("/v1/auth/refresh").send({ refreshToken: user.refreshToken }).expect(200);
  return {
    ...user,
    accessToken: response.body.accessToken,
    refreshToken: response.body.refreshToken,
    auth: { Authorization: `Bearer ${response.body.accessToken}` },
  };
}

/**
 * Moves the test clock and gives each user fresh tokens (in place), as a
 * client would after its access token expired meanwhile.
 */
export async function advanceClock(
  t: Pick<TestApp, "http" | "clock">,
  ms: number,
  ...users: SignedInUser[]
): Promise<void> {
  t.clock.advance(ms);
  for (const user of users) Object.assign(user, await refreshUser(t, user));
}
