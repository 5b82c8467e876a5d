import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { registerUser, type SignedInUser } from "../helpers/users.js";

// The password is what is under test here: real argon2id.
let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ env: { KEPT_LOGIN_FAILURES_PER_ADDRESS: "3" } });
});
afterAll(() => t.close());

function login(user: { email: string }, password: string) {
  return t.http.post("/v1/auth/login").send({ email: user.email, password });
}

async function secondLogin(user: SignedInUser): Promise<SignedInUser> {
  const response = await login(user, user.password).expect(200);
  return {
    ...user,
    accessToken: response.body.accessToken,
    refreshToken: response.body.refreshToken,
    auth: { Authorization: `Bearer ${response.body.accessToken}` },
  };
}

describe("changing the password", () => {
  it("needs the current password, then ends every other login and keeps this one", async () => {
    const phone = await registerUser(t);
    const laptop = await secondLogin(phone);
    const tablet = await secondLogin(phone);

    const wrong = await t.http
      .post("/v1/me/password")
      .set(laptop.auth)
      .send({ currentPassword: "not my password", newPassword: "a brand new secret" })
      .expect(403);
    expect(wrong.body.code).toBe("WRONG_PASSWORD");
    expect(wrong.headers["content-type"]).toMatch(/application\/problem\+json/);
    await t.http.get("/v1/me").set(phone.auth).expect(200);

    await t.http
      .post("/v1/me/password")
      .set(laptop.auth)
      .send({ currentPassword: phone.password, newPassword: "a brand new secret" })
      .expect(204);

    // The other logins end at once: access tokens and refresh tokens alike.
    for (const other of [phone, tablet]) {
      expect((await t.http.get("/v1/me").set(other.auth).expect(401)).body.code).toBe("UNAUTHENTICATED");
      await t.http.post("/v1/auth/refresh").send({ refreshToken: other.refreshToken }).expect(401);
    }
    // This login goes on.
    await t.http.get("/v1/me").set(laptop.auth).expect(200);
    await t.http.post("/v1/auth/refresh").send({ refreshToken: laptop.refreshToken }).expect(200);
    expect((await login(phone, phone.password).expect(401)).body.code).toBe("INVALID_CREDENTIALS");
    await login(phone, "a brand new secret").expect(200);
  });

  it("validates the new password and refuses unknown fields", async () => {
    const user = await registerUser(t);
    const cases: [object, string][] = [
      [{ currentPassword: user.password, newPassword: "short" }, "body.newPassword"],
      [{ currentPassword: user.password, newPassword: "x".repeat(129) }, "body.newPassword"],
      [{ currentPassword: user.password }, "body.newPassword"],
      [{ currentPassword: user.password, newPassword: "long enough now", email: "x@example.com" }, "body"],
    ];
    for (const [body, path] of cases) {
      const response = await t.http.post("/v1/me/password").set(user.auth).send(body).expect(400);
      expect(JSON.stringify(response.body.errors)).toContain(path);
    }
    await t.http.post("/v1/me/password").send({ currentPassword: "x", newPassword: "long enough now" }).expect(401);
  });

  it("counts wrong current passwords as failed sign-ins: the account is throttled", async () => {
    const user = await registerUser(t);
    for (let i = 0; i < 3; i++) {
      await t.http
        .post("/v1/me/password")
        .set(user.auth)
        .send({ currentPassword: `guess ${i} wrong`, newPassword: "long enough now" })
        .expect(403);
    }
    const throttled = await t.http
      .post("/v1/me/password")
      .set(user.auth)
      .send({ currentPassword: user.password, newPassword: "long enough now" })
      .expect(429);
    expect(throttled.body.code).toBe("ACCOUNT_THROTTLED");
    expect(Number(throttled.headers["retry-after"])).toBeGreaterThan(0);
    expect((await login(user, user.password).expect(429)).body.code).toBe("ACCOUNT_THROTTLED");
  });
});

describe("logging out everywhere", () => {
  it("still ends every login of the caller, this one included", async () => {
    const first = await registerUser(t);
    const second = await secondLogin(first);
    await t.http.post("/v1/auth/logout-all").set(second.auth).expect(204);
    for (const login of [first, second]) {
      await t.http.get("/v1/me").set(login.auth).expect(401);
      await t.http.post("/v1/auth/refresh").send({ refreshToken: login.refreshToken }).expect(401);
    }
  });
});
