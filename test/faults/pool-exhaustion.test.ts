import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { startTestCluster, type TestCluster } from "../helpers/cluster.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { type LinkedPair, linkPair } from "../helpers/pairs.js";

const POOL_SIZE = 2;
const SLOW_REQUESTS = 12;
const DUE = "2026-06-01T10:00:00.000Z";

describe("pool exhaustion", () => {
  let cluster: TestCluster;
  let t: TestApp;
  let pair: LinkedPair;

  beforeAll(async () => {
    cluster = await startTestCluster();
    const databaseUrl = await cluster.createDatabase("kept_pool");
    t = await buildTestApp({
      databaseUrl,
      passwordHasher: fastHasher,
      env: {
        KEPT_DB_POOL_SIZE: String(POOL_SIZE),
        // Waiting for a connection ends in a 503 after this long…
        KEPT_DB_CONNECT_TIMEOUT_MS: "300",
        // …and so does waiting for a lock inside a statement.
        KEPT_DB_STATEMENT_TIMEOUT_MS: "1500",
      },
    });
    pair = await linkPair(t);
  });

  afterAll(async () => {
    await t?.close();
    await cluster?.destroy();
  });

  it("more concurrent slow requests than pool connections all answer 503 with Retry-After, and the service recovers", async () => {
    // Another session holds the pair row: every write to the pair waits for it, holding its connection.
    const blocker = new pg.Client({ connectionString: t.databaseUrl });
    await blocker.connect();
    await blocker.query("BEGIN");
    await blocker.query("SELECT id FROM pairs WHERE id = $1 FOR UPDATE", [pair.pairId]);
    let responses: Awaited<ReturnType<typeof send>>[];
    const send = (i: number) =>
      t.http
        .post(`/v1/pairs/${pair.pairId}/commitments`)
        .set(pair.inviter.auth)
        .set("Idempotency-Key", `slow-${i}`)
        .send({ title: `Slow ${i}`, dueAt: DUE })
        // A hang would fail here; the answers are expected long before.
        .timeout(60_000);
    try {
      responses = await Promise.all(Array.from({ length: SLOW_REQUESTS }, (_, i) => send(i)));
    } finally {
      await blocker.query("ROLLBACK");
      await blocker.end();
    }

    for (const response of responses) {
      expect(response.status, response.text).toBe(503);
      expect(response.headers["content-type"]).toMatch(/^application\/problem\+json/);
      expect(response.body.code).toBe("DATABASE_UNAVAILABLE");
      expect(Number(response.headers["retry-after"])).toBeGreaterThan(0);
    }
    const logged = t.logs.join("");
    // Both bounds did their part: the queue for a connection, and the statement waiting for the lock.
    expect(logged).toContain("timeout exceeded when trying to connect");
    expect(logged).toContain("canceling statement due to statement timeout");
    expect(logged).not.toContain("Internal Server Error");

    // Nothing was half-written, and the same keys now run for real (5xx answers are never stored).
    const client = new pg.Client({ connectionString: t.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query("SELECT count(*)::int AS n FROM commitments WHERE pair_id = $1", [
        pair.pairId,
      ]);
      expect(rows[0].n).toBe(0);
    } finally {
      await client.end();
    }
    // One at a time: with two connections and a 300 ms queue, a burst may rightly meet 503s again.
    const retried = [];
    for (let i = 0; i < SLOW_REQUESTS; i++) retried.push(await send(i));
    expect(retried.map((r) => r.status)).toEqual(Array(SLOW_REQUESTS).fill(201));
    expect(retried.some((r) => r.headers["idempotent-replayed"])).toBe(false);
    expect(t.database.pool.totalCount).toBeLessThanOrEqual(POOL_SIZE);
    expect(t.database.pool.waitingCount).toBe(0);
    await t.http.get("/readyz").expect(200);
  });
});
