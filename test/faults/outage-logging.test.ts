import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCluster, type TestCluster } from "../helpers/cluster.js";
import { serviceUrl } from "../helpers/database.js";
import { cleanUp, type KeptProcess, makeTempDir, startService } from "../helpers/process.js";

/**
 * A database outage under requests and readiness probes: the service (a real
 * process with DATABASE_URL) logs the outage once when it starts and once
 * when it ends, with the counts of what failed meanwhile, instead of a line
 * (and a stack) per failed request and probe.
 */

const FAILING_REQUESTS = 40;
const FAILING_PROBES = 40;

type LogLine = { level: number; msg: string; [key: string]: unknown };

function logLines(text: string): LogLine[] {
  return text.split("\n").flatMap((line) => {
    try {
      return [JSON.parse(line) as LogLine];
    } catch {
      return [];
    }
  });
}

describe("logging a database outage", () => {
  let cluster: TestCluster;
  let service: KeptProcess;

  beforeAll(async () => {
    cluster = await startTestCluster();
    service = await startService({
      DATABASE_URL: serviceUrl(await cluster.createDatabase("kept_outage_logs")),
      KEPT_DATA_DIR: path.join(await makeTempDir(), "data"),
      KEPT_DB_CONNECT_TIMEOUT_MS: "1000",
      KEPT_RATE_LIMIT_PER_MINUTE: "1000000",
      KEPT_AUTH_RATE_LIMIT_PER_MINUTE: "1000000",
      LOG_LEVEL: "info",
    });
    await service.waitForReady();
  });

  afterAll(async () => {
    await cleanUp();
    await cluster?.destroy();
  });

  it("writes one line when the database goes away and one, with the counts, when it is back", async () => {
    const register = (email: string) =>
      service.fetch("/v1/auth/register", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email, password: "correct horse battery", displayName: "Sam", timeZone: "UTC" }),
      });
    expect((await register("before@example.com")).status).toBe(201);

    await cluster.stop();
    let failedRequests = 0;
    let failedProbes = 0;
    for (let i = 0; i < FAILING_REQUESTS; i++) {
      const response = await register(`during-${i}@example.com`);
      const body = (await response.json()) as { code?: string };
      expect([response.status, body.code]).toEqual([503, "DATABASE_UNAVAILABLE"]);
      failedRequests++;
    }
    for (let i = 0; i < FAILING_PROBES; i++) {
      const response = await service.fetch("/readyz");
      await response.arrayBuffer();
      expect(response.status).toBe(503);
      failedProbes++;
    }

    await cluster.start();
    // Probing until ready, as an orchestrator would; its 503s are part of the outage too.
    const deadline = Date.now() + 60_000;
    while (true) {
      const response = await service.fetch("/readyz");
      await response.arrayBuffer();
      if (response.status === 200) break;
      expect(response.status).toBe(503);
      failedProbes++;
      if (Date.now() > deadline) throw new Error("not ready again");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect((await register("after@example.com")).status).toBe(201);

    expect(await service.stop("SIGTERM"), service.stderr()).toEqual({ code: 0, signal: null });
    const lines = logLines(service.stdout());
    const outage = lines.filter((line) => line.msg === "database unavailable");
    const recovery = lines.filter((line) => line.msg === "database available again");
    expect(outage).toHaveLength(1);
    expect(outage[0]).toMatchObject({ level: 50 });
    expect(JSON.stringify(outage[0])).not.toMatch(/failed query|insert into|select /i); // the cause, not the query
    expect(recovery).toHaveLength(1);
    expect(recovery[0]).toMatchObject({
      level: 40,
      failed: { requests: failedRequests, readinessChecks: failedProbes },
    });
    expect(lines.indexOf(outage[0] as LogLine)).toBeLessThan(lines.indexOf(recovery[0] as LogLine));
    // No probe wrote an error with a stack.
    expect(lines.filter((line) => line.msg === "The database is not reachable")).toEqual([]);
  });
});
