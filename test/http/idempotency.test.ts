import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { HOUR } from "../helpers/clock.js";
import { registerUser, type SignedInUser } from "../helpers/users.js";

let t: TestApp;
let user: SignedInUser;
beforeAll(async () => {
  t = await buildTestApp();
  user = await registerUser(t);
});
afterAll(() => t.close());

const patchMe = (key: string, body: Record<string, unknown>, as: SignedInUser = user) =>
  t.http.patch("/v1/me").set(as.auth).set("Idempotency-Key", key).send(body);

describe("Idempotency-Key on writes", () => {
  it("replays the first answer for the same key and body, without writing again", async () => {
    const first = await patchMe("rename-1", { displayName: "Once" }).expect(200);
    const again = await patchMe("rename-1", { displayName: "Once" }).expect(200);
    expect(again.body).toEqual(first.body);
    expect(again.headers.etag).toBe(first.headers.etag);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(first.headers["idempotent-replayed"]).toBeUndefined();
    // The version moved once: the replay did not run the change again.
    const me = await t.http.get("/v1/me").set(user.auth).expect(200);
    expect(me.body.version).toBe(first.body.version);
  });

  it("answers 422 when the key is reused with a different body", async () => {
    await patchMe("rename-2", { displayName: "Two" }).expect(200);
    const reused = await patchMe("rename-2", { displayName: "Other" }).expect(422);
    expect(reused.body.code).toBe("IDEMPOTENCY_KEY_REUSED");
  });

  it("scopes keys to the user", async () => {
    const other = await registerUser(t);
    await patchMe("shared-key", { displayName: "Mine" }).expect(200);
    const theirs = await patchMe("shared-key", { displayName: "Theirs" }, other).expect(200);
    expect(theirs.body.displayName).toBe("Theirs");
    expect(theirs.headers["idempotent-replayed"]).toBeUndefined();
  });

  it("answers 409 while the first request with that key is still running", async () => {
    // Hold the key's lock from another connection, as a first request in flight would.
    const client = new pg.Client({ connectionString: t.databaseUrl });
    await client.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`idem:${user.id}:busy-key`]);
      const busy = await patchMe("busy-key", { displayName: "Busy" }).expect(409);
      expect(busy.body.code).toBe("IDEMPOTENCY_KEY_IN_FLIGHT");
      await client.query("ROLLBACK");
    } finally {
      await client.end();
    }
    await patchMe("busy-key", { displayName: "Busy" }).expect(200);
  });

  it("stores nothing for a failed write, so a retry with the same key runs again", async () => {
    const stale = await t.http
      .patch("/v1/me")
      .set(user.auth)
      .set("Idempotency-Key", "retry-after-412")
      .set("If-Match", '"999"')
      .send({ displayName: "Retry" })
      .expect(412);
    expect(stale.body.code).toBe("PRECONDITION_FAILED");
    const retried = await patchMe("retry-after-412", { displayName: "Retry" }).expect(200);
    expect(retried.body.displayName).toBe("Retry");
  });

  it("forgets keys after 24 hours", async () => {
    await patchMe("day-old", { displayName: "Day one" }).expect(200);
    await patchMe("other-change", { displayName: "Changed since" }).expect(200);
    t.clock.advance(25 * HOUR);
    // The access token expired meanwhile: refresh, as a client would.
    const refreshed = await t.http.post("/v1/auth/refresh").send({ refreshToken: user.refreshToken }).expect(200);
    user = {
      ...user,
      refreshToken: refreshed.body.refreshToken,
      auth: { Authorization: `Bearer ${refreshed.body.accessToken}` },
    };
    const ran = await patchMe("day-old", { displayName: "Day two" }).expect(200);
    expect(ran.body.displayName).toBe("Day two");
    expect(ran.headers["idempotent-replayed"]).toBeUndefined();
    const swept = await t.app.sweeper.runOnce();
    expect(swept.idempotencyKeys).toBeGreaterThan(0);
  });

  it("rejects a malformed key", async () => {
    const response = await patchMe("x".repeat(300), { displayName: "Long" }).expect(400);
    expect(response.body.code).toBe("VALIDATION_FAILED");
  });
});
