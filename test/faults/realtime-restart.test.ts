import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCluster, type TestCluster } from "../helpers/cluster.js";
import { serviceUrl } from "../helpers/database.js";
import { cleanUp, type KeptProcess, makeTempDir, startService } from "../helpers/process.js";
import { isEvent, openStream, type StreamClient } from "../helpers/stream.js";

/**
 * A socket stays connected while PostgreSQL restarts: it receives every
 * event written before and after, in order, none twice (the listener
 * reconnects and the hub catches up from the table).
 */
describe("realtime through a database restart", () => {
  let cluster: TestCluster;
  let service: KeptProcess;
  let socket: StreamClient | undefined;

  beforeAll(async () => {
    cluster = await startTestCluster();
    service = await startService({
      DATABASE_URL: serviceUrl(await cluster.createDatabase("kept_stream_restart")),
      KEPT_DATA_DIR: path.join(await makeTempDir(), "data"),
      KEPT_DB_CONNECT_TIMEOUT_MS: "1000",
      KEPT_STREAM_CATCH_UP_MS: "500",
      KEPT_RATE_LIMIT_PER_MINUTE: "1000000",
      KEPT_AUTH_RATE_LIMIT_PER_MINUTE: "1000000",
    });
    await service.waitForReady();
  });

  afterAll(async () => {
    socket?.ws.terminate();
    await cleanUp();
    await cluster?.destroy();
  });

  /** Retries with the same Idempotency-Key until a 2xx, as a client riding out an outage would. */
  async function write(urlPath: string, method: string, body: unknown, auth: string, key: string) {
    for (let attempt = 0; attempt < 200; attempt++) {
      try {
        const response = await service.fetch(urlPath, {
          method,
          headers: { "content-type": "application/json", authorization: auth, "idempotency-key": key },
          body: JSON.stringify(body),
        });
        if (response.ok) return response.json();
        expect(response.status).toBe(503);
      } catch {}
      await delay(100);
    }
    throw new Error(`${method} ${urlPath} never succeeded`);
  }

  async function register(email: string) {
    const response = await service.fetch("/v1/auth/register", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password: "correct horse", displayName: "R", timeZone: "UTC" }),
    });
    const body = (await response.json()) as { user: { id: string }; accessToken: string };
    return { id: body.user.id, auth: `Bearer ${body.accessToken}` };
  }

  it("delivers every event written before and after the restart, in order, once", async () => {
    const a = await register("a@restart.example");
    const b = await register("b@restart.example");
    const invite = (await (
      await service.fetch("/v1/invites", { method: "POST", headers: { authorization: a.auth } })
    ).json()) as {
      code: string;
    };
    const pair = (await write("/v1/pairs", "POST", { inviteCode: invite.code }, b.auth, "join")) as { id: string };
    socket = await openStream(service.baseUrl.replace(/^http/, "ws"), "", { Authorization: b.auth });
    await socket.waitFor((m) => m.type === "hello");

    const create = (i: number) =>
      write(
        `/v1/pairs/${pair.id}/commitments`,
        "POST",
        { title: `C${i}`, dueAt: "2099-01-01T10:00:00Z" },
        a.auth,
        `c${i}`,
      );
    for (let i = 0; i < 5; i++) await create(i);
    await socket.waitFor(isEvent(6));

    await cluster.stop();
    await service.waitFor("/readyz", 503, 30_000);
    await cluster.start();
    for (let i = 5; i < 10; i++) await create(i);

    await socket.waitFor(isEvent(11), 30_000);
    expect(socket.seqs()).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(socket.ws.readyState).toBe(socket.ws.OPEN);
  });
});
