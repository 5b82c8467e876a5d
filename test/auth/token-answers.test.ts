import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { MINUTE } from "../helpers/clock.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { linkPair } from "../helpers/pairs.js";
import { registerUser } from "../helpers/users.js";

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ passwordHasher: fastHasher });
});
afterAll(() => t.close());

describe("answers that carry tokens", () => {
  it("are never stored by caches: register, login, refresh, stream tickets and invite codes send Cache-Control: no-store", async () => {
    const registered = await t.http
      .post("/v1/auth/register")
      .send({ email: "cache@example.com", password: "correct horse", displayName: "C", timeZone: "UTC" })
      .expect(201);
    expect(registered.headers["cache-control"]).toBe("no-store");
    const login = await t.http
      .post("/v1/auth/login")
      .send({ email: "cache@example.com", password: "correct horse" })
      .expect(200);
    expect(login.headers["cache-control"]).toBe("no-store");
    const refreshed = await t.http.post("/v1/auth/refresh").send({ refreshToken: login.body.refreshToken }).expect(200);
    expect(refreshed.headers["cache-control"]).toBe("no-store");

    const invite = await t.http
      .post("/v1/invites")
      .set("Authorization", `Bearer ${login.body.accessToken}`)
      .expect(201);
    expect(invite.headers["cache-control"]).toBe("no-store");
    const { inviter } = await linkPair(t);
    const ticket = await t.http.post("/v1/stream/tickets").set(inviter.auth).expect(201);
    expect(ticket.headers["cache-control"]).toBe("no-store");
  });
});

describe("a 401", () => {
  it("names the Bearer scheme; without a token, no error code", async () => {
    for (const authorization of [undefined, "Basic abc"]) {
      const request = t.http.get("/v1/me");
      const response = await (authorization ? request.set("Authorization", authorization) : request).expect(401);
      expect(response.headers["www-authenticate"]).toBe("Bearer");
    }
    const wrong = await t.http.post("/v1/auth/login").send({ email: "nobody@example.com", password: "whatever1" });
    expect(wrong.status).toBe(401);
    expect(wrong.headers["www-authenticate"]).toBe("Bearer");
  });

  it('says error="invalid_token" for a token that is malformed, expired or whose login ended', async () => {
    const invalid = 'Bearer error="invalid_token"';
    const malformed = await t.http.get("/v1/me").set("Authorization", "Bearer not.a.jwt").expect(401);
    expect(malformed.headers["www-authenticate"]).toBe(invalid);

    const ended = await registerUser(t);
    await t.http.post("/v1/auth/logout").send({ refreshToken: ended.refreshToken }).expect(204);
    const afterLogout = await t.http.get("/v1/me").set(ended.auth).expect(401);
    expect(afterLogout.body.code).toBe("UNAUTHENTICATED");
    expect(afterLogout.headers["www-authenticate"]).toBe(invalid);

    const expiring = await registerUser(t);
    await t.http.get("/v1/me").set(expiring.auth).expect(200);
    t.clock.advance(16 * MINUTE);
    const expired = await t.http.get("/v1/me").set(expiring.auth).expect(401);
    expect(expired.body.detail).toBe("The access token has expired");
    expect(expired.headers["www-authenticate"]).toBe(invalid);
  });
});
