import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { MINUTE } from "../helpers/clock.js";
import { registerUser } from "../helpers/users.js";

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ env: { KEPT_RATE_LIMIT_PER_MINUTE: "5", KEPT_AUTH_RATE_LIMIT_PER_MINUTE: "3" } });
  // Start at the beginning of a one-minute window, so the counts below fall in one.
  t.clock.set("2026-03-02T10:00:00.000Z");
});
afterAll(() => t.close());

describe("rate limits", () => {
  it("are stricter on auth routes and answer 429 with Retry-After", async () => {
    const user = await registerUser(t);
    const login = () => t.http.post("/v1/auth/login").send({ email: user.email, password: user.password });
    const first = await login().expect(200);
    expect(first.headers["ratelimit-limit"]).toBe("3");
    expect(first.headers["ratelimit-remaining"]).toBe("1");
    expect(Number(first.headers["ratelimit-reset"])).toBeGreaterThan(0);
    await login().expect(200);
    const limited = await login().expect(429);
    expect(limited.body.code).toBe("RATE_LIMITED");
    expect(limited.headers["content-type"]).toMatch(/problem\+json/);
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    expect(limited.headers["ratelimit-remaining"]).toBe("0");
  });

  it("count the other routes separately, per address and per account, and reset with the window", async () => {
    t.clock.set("2026-03-02T10:01:00.000Z");
    const user = await registerUser(t);
    for (let i = 0; i < 5; i++) await t.http.get("/v1/me").set(user.auth).expect(200);
    const limited = await t.http.get("/v1/me").set(user.auth).expect(429);
    expect(limited.body.code).toBe("RATE_LIMITED");
    // Unknown routes are counted too, so probing is not free.
    await t.http.get("/v1/nothing").expect(429);
    t.clock.advance(MINUTE);
    await t.http.get("/v1/me").set(user.auth).expect(200);
  });

  it("count registrations like the other auth routes (registration tells whether an email exists)", async () => {
    t.clock.set("2026-03-02T10:03:00.000Z");
    const register = (n: number) =>
      t.http
        .post("/v1/auth/register")
        .send({ email: `enumerate-${n}@example.com`, password: "correct horse", displayName: "E", timeZone: "UTC" });
    expect((await register(1)).status).toBe(201);
    expect((await register(1)).status).toBe(409);
    await register(2).expect(201);
    const limited = await register(3).expect(429);
    expect(limited.body.code).toBe("RATE_LIMITED");
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
  });

  it("leave health checks alone", async () => {
    for (let i = 0; i < 10; i++) await t.http.get("/healthz").expect(200);
  });

  it("are shared by instances: each starts from the others' counts and adds its own at every sync", async () => {
    t.clock.set("2026-03-02T10:05:00.000Z");
    const other = await buildTestApp({
      databaseUrl: t.databaseUrl,
      clock: t.clock,
      env: { KEPT_RATE_LIMIT_PER_MINUTE: "5", KEPT_AUTH_RATE_LIMIT_PER_MINUTE: "3" },
    });
    try {
      const user = await registerUser(t);
      for (let i = 0; i < 4; i++) await t.http.get("/v1/me").set(user.auth).expect(200);
      await t.app.requestCounter.sync();
      // The other instance's first request in this window reads the shared count (4), so it is the 5th.
      const fifth = await other.http.get("/v1/me").set(user.auth).expect(200);
      expect(fifth.headers["ratelimit-remaining"]).toBe("0");
      await other.http.get("/v1/me").set(user.auth).expect(429);
      // Each learns the other's requests at its next sync.
      await other.app.requestCounter.sync();
      await t.http.get("/v1/me").set(user.auth).expect(200);
      await t.app.requestCounter.sync();
      const limited = await t.http.get("/v1/me").set(user.auth).expect(429);
      expect(limited.body.code).toBe("RATE_LIMITED");
    } finally {
      await other.close();
    }
  });

  it("count the OpenAPI document, the docs' copy and readiness like any other route", async () => {
    for (const [minute, path] of ["/openapi.json", "/docs/json", "/readyz"].entries()) {
      t.clock.set(`2026-03-02T10:1${minute}:00.000Z`);
      for (let i = 0; i < 5; i++) {
        const answered = await t.http.get(path).expect(200);
        expect(answered.headers["ratelimit-remaining"], path).toBe(String(4 - i));
      }
      const limited = await t.http.get(path).expect(429);
      expect(limited.body.code, path).toBe("RATE_LIMITED");
      expect(Number(limited.headers["retry-after"]), path).toBeGreaterThan(0);
    }
  });

  it("count requests that fail authentication: a garbage or an ended token meets 429 as well", async () => {
    t.clock.set("2026-03-02T10:20:00.000Z");
    const garbage = { Authorization: "Bearer not.a.token" };
    for (let i = 0; i < 5; i++) await t.http.get("/v1/me").set(garbage).expect(401);
    const limited = await t.http.get("/v1/me").set(garbage).expect(429);
    expect(limited.body.code).toBe("RATE_LIMITED");
    expect(limited.headers["ratelimit-remaining"]).toBe("0");

    t.clock.set("2026-03-02T10:21:00.000Z");
    const user = await registerUser(t);
    await t.http.post("/v1/auth/logout").send({ refreshToken: user.refreshToken }).expect(204);
    for (let i = 0; i < 5; i++) await t.http.get("/v1/me").set(user.auth).expect(401);
    await t.http.get("/v1/me").set(user.auth).expect(429);
    // Without a token at all, too.
    await t.http.get("/v1/me").expect(429);
  });
});
