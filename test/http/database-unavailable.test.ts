import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/db/embedded.js";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { createTestDatabase } from "../helpers/database.js";
import { registerUser } from "../helpers/users.js";

describe("when the database cannot be reached", () => {
  let t: TestApp;
  beforeAll(async () => {
    // A real server address with nobody listening.
    const port = await freePort();
    t = await buildTestApp({
      databaseUrl: `postgres://kept:kept@127.0.0.1:${port}/kept`,
      env: { KEPT_DB_CONNECT_TIMEOUT_MS: "500" },
    });
  });
  afterAll(() => t.close());

  it("answers 503 DATABASE_UNAVAILABLE with Retry-After, not a hang or a 500", async () => {
    const response = await t.http
      .post("/v1/auth/login")
      .send({ email: "a@example.com", password: "whatever1" })
      .expect(503);
    expect(response.body.code).toBe("DATABASE_UNAVAILABLE");
    expect(Number(response.headers["retry-after"])).toBeGreaterThan(0);
    expect(JSON.stringify(response.body)).not.toContain("ECONNREFUSED");
  });

  it("reports not ready, while still alive", async () => {
    await t.http.get("/healthz").expect(200);
    const ready = await t.http.get("/readyz").expect(503);
    expect(ready.body.code).toBe("NOT_READY");
  });
});

describe("when a statement runs past the statement timeout", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({ databaseUrl: await createTestDatabase(), env: { KEPT_DB_STATEMENT_TIMEOUT_MS: "300" } });
  });
  afterAll(() => t.close());

  it("answers 503 instead of waiting forever", async () => {
    const user = await registerUser(t);
    const blocker = new pg.Client({ connectionString: t.databaseUrl });
    await blocker.connect();
    try {
      await blocker.query("BEGIN");
      await blocker.query("SELECT * FROM users WHERE id = $1 FOR UPDATE", [user.id]);
      const response = await t.http.patch("/v1/me").set(user.auth).send({ displayName: "Blocked" }).expect(503);
      expect(response.body.code).toBe("DATABASE_UNAVAILABLE");
      expect(response.headers["retry-after"]).toBeDefined();
    } finally {
      await blocker.query("ROLLBACK");
      await blocker.end();
    }
    // Nothing was half-written: the name is unchanged and the next write works.
    expect((await t.http.get("/v1/me").set(user.auth).expect(200)).body.displayName).toBe("Sam");
    await t.http.patch("/v1/me").set(user.auth).send({ displayName: "Free" }).expect(200);
  });
});
