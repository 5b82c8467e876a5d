import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { READINESS_REUSE_MS } from "../../src/http/health.js";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { countQueries } from "../helpers/queries.js";

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t.close());

describe("readiness", () => {
  it("shares one check between concurrent callers and reuses a ready answer for a second", async () => {
    // A check is two statements on the migrations table.
    const checks = countQueries(t.database.pool, /__drizzle_migrations/);
    try {
      const answers = await Promise.all(Array.from({ length: 8 }, () => t.http.get("/readyz")));
      expect(answers.map((answer) => answer.status)).toEqual(Array(8).fill(200));
      expect(checks.count).toBe(2);
      for (let i = 0; i < 5; i++) await t.http.get("/readyz").expect(200);
      expect(checks.count).toBe(2);

      t.clock.advance(READINESS_REUSE_MS);
      expect((await t.http.get("/readyz").expect(200)).body).toEqual({ status: "ok" });
      expect(checks.count).toBe(4);
    } finally {
      checks.stop();
    }
  });
});
