import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { countQueries } from "../helpers/queries.js";
import { registerUser } from "../helpers/users.js";

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ passwordHasher: fastHasher });
});
afterAll(() => t.close());

// The statement that asks whether a login is live (it reads refresh_families).
const LOGIN_LOOKUP = /refresh_families/;

describe("a login that has ended", () => {
  it("is refused without a query once this instance ended it (logout)", async () => {
    const user = await registerUser(t);
    await t.http.get("/v1/me").set(user.auth).expect(200);
    await t.http.post("/v1/auth/logout").send({ refreshToken: user.refreshToken }).expect(204);
    const lookups = countQueries(t.database.pool, LOGIN_LOOKUP);
    try {
      for (let i = 0; i < 5; i++) {
        const refused = await t.http.get("/v1/me").set(user.auth).expect(401);
        expect(refused.body.code).toBe("UNAUTHENTICATED");
      }
      expect(lookups.count).toBe(0);
    } finally {
      lookups.stop();
    }
  });

  it("costs one query when learnt from the database (ended elsewhere), then none", async () => {
    const user = await registerUser(t);
    // Revoked behind this instance's back, as another instance would, whose broadcast was lost.
    const client = new pg.Client({ connectionString: t.databaseUrl });
    await client.connect();
    try {
      await client.query(
        "UPDATE refresh_families SET revoked_at = now(), revoked_reason = 'logout' WHERE user_id = $1",
        [user.id],
      );
    } finally {
      await client.end();
    }
    const lookups = countQueries(t.database.pool, LOGIN_LOOKUP);
    try {
      for (let i = 0; i < 5; i++) await t.http.get("/v1/me").set(user.auth).expect(401);
      expect(lookups.count).toBe(1);
    } finally {
      lookups.stop();
    }
  });

  it("does not touch the account's other or later logins", async () => {
    const user = await registerUser(t);
    const second = await t.http.post("/v1/auth/login").send({ email: user.email, password: user.password }).expect(200);
    await t.http.post("/v1/auth/logout").send({ refreshToken: user.refreshToken }).expect(204);
    await t.http.get("/v1/me").set(user.auth).expect(401);
    await t.http.get("/v1/me").set("Authorization", `Bearer ${second.body.accessToken}`).expect(200);
    const later = await t.http.post("/v1/auth/login").send({ email: user.email, password: user.password }).expect(200);
    await t.http.get("/v1/me").set("Authorization", `Bearer ${later.body.accessToken}`).expect(200);
  });
});
