import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { argon2idHasher, type PasswordHasher } from "../../src/modules/auth/index.js";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { MINUTE } from "../helpers/clock.js";
import { registerUser } from "../helpers/users.js";

/** The real argon2id hasher, watched: which hashes did login verify against? */
const verifiedAgainst: string[] = [];
const watchedHasher: PasswordHasher = {
  hash: (password) => argon2idHasher.hash(password),
  verify: (hash, password) => {
    verifiedAgainst.push(hash);
    return argon2idHasher.verify(hash, password);
  },
};

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ passwordHasher: watchedHasher, env: { KEPT_LOGIN_FAILURES_PER_ADDRESS: "3" } });
});
afterAll(() => t.close());

describe("register", () => {
  it("creates an account and answers the user with tokens", async () => {
    const response = await t.http
      .post("/v1/auth/register")
      .send({ email: "Ana@Example.com", password: "correct horse", displayName: " Ana ", timeZone: "Europe/Paris" })
      .expect(201);
    expect(response.body.user).toMatchObject({
      email: "Ana@Example.com",
      displayName: "Ana",
      timeZone: "Europe/Paris",
      activePairId: null,
    });
    expect(response.body.user.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    expect(response.body).toMatchObject({ expiresIn: 900, tokenType: "Bearer" });
    expect(typeof response.body.accessToken).toBe("string");
    expect(typeof response.body.refreshToken).toBe("string");
    expect(response.body.user).not.toHaveProperty("passwordHash");
  });

  it("refuses an email already taken, whatever its case", async () => {
    await registerUser(t, { email: "case@example.com" });
    const response = await t.http
      .post("/v1/auth/register")
      .send({ email: "CASE@example.COM", password: "another password", displayName: "X", timeZone: "UTC" })
      .expect(409);
    expect(response.body.code).toBe("EMAIL_TAKEN");
  });

  it("validates the time zone as IANA and stores its canonical name", async () => {
    for (const timeZone of ["Mars/Olympus", "+01:00", "CET+1", ""]) {
      const response = await t.http
        .post("/v1/auth/register")
        .send({ email: `tz${Math.random()}@example.com`, password: "correct horse", displayName: "T", timeZone })
        .expect(400);
      expect(response.body.code).toBe("VALIDATION_FAILED");
      expect(response.body.errors.map((e: { path: string }) => e.path)).toContain("body.timeZone");
    }
    const ok = await t.http
      .post("/v1/auth/register")
      .send({ email: "utc@example.com", password: "correct horse", displayName: "U", timeZone: "utc" })
      .expect(201);
    expect(ok.body.user.timeZone).toBe("UTC");
  });

  it("accepts 8 to 128 character passwords and never truncates them", async () => {
    const short = await t.http
      .post("/v1/auth/register")
      .send({ email: "short@example.com", password: "1234567", displayName: "S", timeZone: "UTC" })
      .expect(400);
    expect(short.body.errors[0].path).toBe("body.password");

    const long = "p".repeat(100);
    await registerUser(t, { email: "long@example.com", password: long });
    await t.http.post("/v1/auth/login").send({ email: "long@example.com", password: long }).expect(200);
    await t.http
      .post("/v1/auth/login")
      .send({ email: "long@example.com", password: "p".repeat(72) })
      .expect(401);
  });

  it("rejects unknown fields (no mass assignment)", async () => {
    const response = await t.http
      .post("/v1/auth/register")
      .send({ email: "mass@example.com", password: "correct horse", displayName: "M", timeZone: "UTC", id: "x" })
      .expect(400);
    expect(response.body.code).toBe("VALIDATION_FAILED");
  });
});

describe("login", () => {
  it("signs in with the right password, email compared case-insensitively", async () => {
    const user = await registerUser(t, { email: "login@example.com" });
    const response = await t.http
      .post("/v1/auth/login")
      .send({ email: "LOGIN@example.com", password: user.password })
      .expect(200);
    expect(response.body.user.id).toBe(user.id);
    await t.http.get("/v1/me").set("Authorization", `Bearer ${response.body.accessToken}`).expect(200);
  });

  it("answers an unknown email exactly as a wrong password, after the same verification work", async () => {
    const user = await registerUser(t, { email: "same@example.com" });
    verifiedAgainst.length = 0;
    const wrong = await t.http.post("/v1/auth/login").send({ email: user.email, password: "not the password" });
    const unknown = await t.http.post("/v1/auth/login").send({ email: "nobody@example.com", password: "whatever1" });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const strip = ({ requestId: _r, ...rest }: Record<string, unknown>) => rest;
    expect(strip(unknown.body)).toEqual(strip(wrong.body));
    expect(unknown.body.code).toBe("INVALID_CREDENTIALS");
    // One argon2id verification each: the unknown email against a real (dummy) argon2id hash.
    expect(verifiedAgainst).toHaveLength(2);
    expect(verifiedAgainst[1]).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(verifiedAgainst[1]).not.toBe(verifiedAgainst[0]);
  });

  it("throttles an account after repeated failures, even with the right password, until the window passes", async () => {
    const user = await registerUser(t, { email: "throttle@example.com" });
    for (let i = 0; i < 3; i++) {
      await t.http.post("/v1/auth/login").send({ email: user.email, password: "wrong password" }).expect(401);
    }
    const throttled = await t.http
      .post("/v1/auth/login")
      .send({ email: user.email, password: user.password })
      .expect(429);
    expect(throttled.body.code).toBe("ACCOUNT_THROTTLED");
    expect(Number(throttled.headers["retry-after"])).toBeGreaterThan(0);
    // Another account is not affected.
    const other = await registerUser(t);
    await t.http.post("/v1/auth/login").send({ email: other.email, password: other.password }).expect(200);

    t.clock.advance(16 * MINUTE);
    await t.http.post("/v1/auth/login").send({ email: user.email, password: user.password }).expect(200);
  });
});

describe("access tokens", () => {
  it("are EdDSA JWTs verifiable with the published JWKS, naming issuer, audience, subject and login", async () => {
    const user = await registerUser(t);
    const jwks = await t.http.get("/.well-known/jwks.json").expect(200);
    expect(jwks.body.keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig" });
    expect(jwks.body.keys[0]).not.toHaveProperty("d");
    const header = decodeProtectedHeader(user.accessToken);
    expect(header).toMatchObject({ alg: "EdDSA", kid: jwks.body.keys[0].kid });
    const { payload } = await jwtVerify(user.accessToken, createLocalJWKSet(jwks.body), {
      issuer: "kept",
      audience: "kept-api",
      currentDate: t.clock.now(),
    });
    expect(payload.sub).toBe(user.id);
    expect(typeof payload.fid).toBe("string");
    expect((payload.exp as number) - (payload.iat as number)).toBe(900);
  });

  it("stop working when they expire (15 minutes)", async () => {
    const user = await registerUser(t);
    t.clock.advance(14 * MINUTE);
    await t.http.get("/v1/me").set(user.auth).expect(200);
    t.clock.advance(2 * MINUTE);
    const response = await t.http.get("/v1/me").set(user.auth).expect(401);
    expect(response.body).toMatchObject({ code: "UNAUTHENTICATED", detail: "The access token has expired" });
  });

  it("are refused when missing, malformed, or signed with another key or algorithm", async () => {
    const user = await registerUser(t);
    await t.http.get("/v1/me").expect(401);
    await t.http.get("/v1/me").set("Authorization", "Basic abc").expect(401);
    await t.http.get("/v1/me").set("Authorization", "Bearer not.a.jwt").expect(401);
    const [head, body] = user.accessToken.split(".");
    const unsigned = `${Buffer.from(JSON.stringify({ alg: "none", typ: "at+jwt" })).toString("base64url")}.${body}.`;
    await t.http.get("/v1/me").set("Authorization", `Bearer ${unsigned}`).expect(401);
    const hmac = await new SignJWT({ fid: "x" })
      .setProtectedHeader({ alg: "HS256", kid: decodeProtectedHeader(user.accessToken).kid as string, typ: "at+jwt" })
      .setSubject(user.id)
      .setIssuer("kept")
      .setAudience("kept-api")
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode("a-guessed-secret-that-is-long-enough"));
    await t.http.get("/v1/me").set("Authorization", `Bearer ${hmac}`).expect(401);
    expect(head).toBeTruthy();
  });
});

describe("refresh tokens", () => {
  it("rotate: each refresh answers new tokens and retires the old refresh token", async () => {
    const user = await registerUser(t);
    const first = await t.http.post("/v1/auth/refresh").send({ refreshToken: user.refreshToken }).expect(200);
    expect(first.body).toMatchObject({ expiresIn: 900, tokenType: "Bearer" });
    expect(first.body.refreshToken).not.toBe(user.refreshToken);
    await t.http.get("/v1/me").set("Authorization", `Bearer ${first.body.accessToken}`).expect(200);
    const second = await t.http.post("/v1/auth/refresh").send({ refreshToken: first.body.refreshToken }).expect(200);
    expect(second.body.refreshToken).not.toBe(first.body.refreshToken);
  });

  it("revoke the whole login when a rotated token is presented again", async () => {
    const user = await registerUser(t);
    const rotated = await t.http.post("/v1/auth/refresh").send({ refreshToken: user.refreshToken }).expect(200);
    // Used (and so remembered as live) before the login ends.
    await t.http.get("/v1/me").set("Authorization", `Bearer ${rotated.body.accessToken}`).expect(200);
    const reuse = await t.http.post("/v1/auth/refresh").send({ refreshToken: user.refreshToken }).expect(401);
    expect(reuse.body.code).toBe("REFRESH_TOKEN_REUSED");
    // The newest token and every access token of that login are dead too.
    const newest = await t.http.post("/v1/auth/refresh").send({ refreshToken: rotated.body.refreshToken }).expect(401);
    expect(newest.body.code).toBe("REFRESH_TOKEN_INVALID");
    await t.http.get("/v1/me").set("Authorization", `Bearer ${rotated.body.accessToken}`).expect(401);
    await t.http.get("/v1/me").set(user.auth).expect(401);
    // Other logins of the same account live on.
    const other = await t.http.post("/v1/auth/login").send({ email: user.email, password: user.password }).expect(200);
    await t.http.get("/v1/me").set("Authorization", `Bearer ${other.body.accessToken}`).expect(200);
  });

  it("let only one of two simultaneous refreshes with the same token through, and revoke the login", async () => {
    const user = await registerUser(t);
    const [a, b] = await Promise.all([
      t.http.post("/v1/auth/refresh").send({ refreshToken: user.refreshToken }),
      t.http.post("/v1/auth/refresh").send({ refreshToken: user.refreshToken }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 401]);
    const winner = a.status === 200 ? a : b;
    await t.http.post("/v1/auth/refresh").send({ refreshToken: winner.body.refreshToken }).expect(401);
  });

  it("are refused when unknown or expired", async () => {
    const unknown = await t.http.post("/v1/auth/refresh").send({ refreshToken: "nope" }).expect(401);
    expect(unknown.body.code).toBe("REFRESH_TOKEN_INVALID");
    const user = await registerUser(t);
    t.clock.advance(31 * 24 * 60 * MINUTE);
    await t.http.post("/v1/auth/refresh").send({ refreshToken: user.refreshToken }).expect(401);
  });
});

describe("logout", () => {
  it("ends that login only: its refresh and access tokens stop at once", async () => {
    const user = await registerUser(t);
    const second = await t.http.post("/v1/auth/login").send({ email: user.email, password: user.password }).expect(200);
    await t.http.get("/v1/me").set(user.auth).expect(200);
    await t.http.post("/v1/auth/logout").send({ refreshToken: user.refreshToken }).expect(204);
    await t.http.get("/v1/me").set(user.auth).expect(401);
    await t.http.post("/v1/auth/refresh").send({ refreshToken: user.refreshToken }).expect(401);
    await t.http.get("/v1/me").set("Authorization", `Bearer ${second.body.accessToken}`).expect(200);
    // Logging out twice, or with an unknown token, is not an error.
    await t.http.post("/v1/auth/logout").send({ refreshToken: user.refreshToken }).expect(204);
    await t.http.post("/v1/auth/logout").send({ refreshToken: "unknown" }).expect(204);
  });

  it("logout-all ends every login of the account", async () => {
    const user = await registerUser(t);
    const second = await t.http.post("/v1/auth/login").send({ email: user.email, password: user.password }).expect(200);
    await t.http.post("/v1/auth/logout-all").expect(401);
    await t.http.get("/v1/me").set("Authorization", `Bearer ${second.body.accessToken}`).expect(200);
    await t.http.post("/v1/auth/logout-all").set(user.auth).expect(204);
    await t.http.get("/v1/me").set(user.auth).expect(401);
    await t.http.get("/v1/me").set("Authorization", `Bearer ${second.body.accessToken}`).expect(401);
    await t.http.post("/v1/auth/refresh").send({ refreshToken: second.body.refreshToken }).expect(401);
  });
});

describe("me", () => {
  it("reads the profile with an ETag and answers 304 to If-None-Match", async () => {
    const user = await registerUser(t, { displayName: "Robin", timeZone: "America/New_York" });
    const response = await t.http.get("/v1/me").set(user.auth).expect(200);
    expect(response.body).toMatchObject({
      id: user.id,
      email: user.email,
      displayName: "Robin",
      timeZone: "America/New_York",
      activePairId: null,
      version: 1,
    });
    expect(response.headers.etag).toBe('"1"');
    await t.http.get("/v1/me").set(user.auth).set("If-None-Match", '"1"').expect(304);
    await t.http.get("/v1/me").set(user.auth).set("If-None-Match", '"7"').expect(200);
  });

  it("changes name and time zone; If-Match guards against lost updates", async () => {
    const user = await registerUser(t);
    const updated = await t.http
      .patch("/v1/me")
      .set(user.auth)
      .set("If-Match", '"1"')
      .send({ displayName: "Sam B", timeZone: "Asia/Tokyo" })
      .expect(200);
    expect(updated.body).toMatchObject({ displayName: "Sam B", timeZone: "Asia/Tokyo", version: 2 });
    expect(updated.headers.etag).toBe('"2"');
    const stale = await t.http
      .patch("/v1/me")
      .set(user.auth)
      .set("If-Match", '"1"')
      .send({ displayName: "Late" })
      .expect(412);
    expect(stale.body.code).toBe("PRECONDITION_FAILED");
    expect((await t.http.get("/v1/me").set(user.auth)).body.displayName).toBe("Sam B");
  });

  it("rejects empty, unknown and invalid fields", async () => {
    const user = await registerUser(t);
    await t.http.patch("/v1/me").set(user.auth).send({}).expect(400);
    await t.http.patch("/v1/me").set(user.auth).send({ email: "new@example.com" }).expect(400);
    await t.http.patch("/v1/me").set(user.auth).send({ timeZone: "Nowhere/Land" }).expect(400);
    await t.http
      .patch("/v1/me")
      .set(user.auth)
      .send({ displayName: "x".repeat(81) })
      .expect(400);
    await t.http.patch("/v1/me").send({ displayName: "anon" }).expect(401);
  });
});
