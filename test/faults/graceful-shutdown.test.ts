import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCluster, type TestCluster } from "../helpers/cluster.js";
import { serviceUrl } from "../helpers/database.js";
import { cleanUp, type KeptProcess, makeTempDir, startService } from "../helpers/process.js";

const IN_FLIGHT = 6;
const DUE = "2099-06-01T10:00:00.000Z";

describe("graceful shutdown", () => {
  let cluster: TestCluster;
  let databaseUrl: string;
  let service: KeptProcess;

  beforeAll(async () => {
    cluster = await startTestCluster();
    databaseUrl = await cluster.createDatabase("kept_shutdown");
    service = await startService({
      DATABASE_URL: serviceUrl(databaseUrl),
      KEPT_DATA_DIR: path.join(await makeTempDir(), "data"),
      KEPT_DB_POOL_SIZE: "10",
      KEPT_DB_STATEMENT_TIMEOUT_MS: "60000",
      KEPT_SHUTDOWN_TIMEOUT_MS: "60000",
    });
    await service.waitForReady();
  });

  afterAll(async () => {
    await cleanUp();
    await cluster?.destroy();
  });

  const post = (urlPath: string, body: unknown, headers: Record<string, string> = {}) =>
    service.fetch(urlPath, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });

  async function signUp(name: string): Promise<string> {
    const response = await post("/v1/auth/register", {
      email: `${name}@example.com`,
      password: "correct horse battery",
      displayName: name,
      timeZone: "Europe/Paris",
    });
    return `Bearer ${((await response.json()) as { accessToken: string }).accessToken}`;
  }

  it("on SIGTERM stops accepting, finishes the requests in flight, and exits 0", async () => {
    const a = await signUp("alex");
    const b = await signUp("blake");
    const invite = (await (await post("/v1/invites", {}, { authorization: a })).json()) as { code: string };
    const pair = (await (await post("/v1/pairs", { inviteCode: invite.code }, { authorization: b })).json()) as {
      id: string;
    };

    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    const blocker = new pg.Client({ connectionString: databaseUrl });
    await blocker.connect();
    try {
      // Hold the pair row, so the writes below are in flight (waiting on it) when the signal arrives.
      await blocker.query("BEGIN");
      await blocker.query("SELECT id FROM pairs WHERE id = $1 FOR UPDATE", [pair.id]);
      const inFlight = Array.from({ length: IN_FLIGHT }, (_, i) =>
        post(`/v1/pairs/${pair.id}/commitments`, { title: `In flight ${i}`, dueAt: DUE }, { authorization: a }).then(
          async (response) => ({ status: response.status, body: (await response.json()) as { id?: string } }),
          (error: Error) => ({ status: `network error: ${error.message}`, body: {} as { id?: string } }),
        ),
      );
      const deadline = Date.now() + 30_000;
      while (true) {
        const { rows } = await admin.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        );
        if ((rows[0]?.n ?? 0) >= IN_FLIGHT) break;
        if (Date.now() > deadline) throw new Error("the writes never reached the lock");
        await delay(20);
      }

      service.child.kill("SIGTERM");
      // The listening socket closes first: a new connection is refused while the old requests wait.
      while (true) {
        const refused = await fetch(`${service.baseUrl}/healthz`, { signal: AbortSignal.timeout(5_000) }).then(
          (response) => response.status === 503,
          () => true,
        );
        if (refused) break;
        if (Date.now() > deadline) throw new Error("the service kept accepting after SIGTERM");
        await delay(20);
      }
      expect(service.child.exitCode).toBeNull();

      await blocker.query("ROLLBACK");
      const answers = await Promise.all(inFlight);
      // Every request in flight was finished, not dropped: 201 (or 503 if it could not be).
      for (const answer of answers) expect([201, 503], JSON.stringify(answer)).toContain(answer.status);
      const created = answers.filter((answer) => answer.status === 201).map((answer) => answer.body.id);
      expect(created.length).toBeGreaterThan(0);

      expect(await service.waitForExit(60_000), service.stderr()).toEqual({ code: 0, signal: null });

      const { rows } = await admin.query<{ id: string }>("SELECT id FROM commitments WHERE pair_id = $1", [pair.id]);
      expect(rows.map((row) => row.id).sort()).toEqual(created.sort());
    } finally {
      await blocker.end().catch(() => {});
      await admin.end();
    }
  });
});
