import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCluster, type TestCluster } from "../helpers/cluster.js";
import { serviceUrl } from "../helpers/database.js";
import { cleanUp, type KeptProcess, makeTempDir, startService } from "../helpers/process.js";

/**
 * PostgreSQL restarts while clients create commitments continuously, each
 * with an Idempotency-Key and retrying with the same key until it gets a
 * 2xx. The service is a real process with DATABASE_URL set.
 */

const WRITERS_PER_PAIR = 2;
const PAIRS = 3;
const DUE = "2099-06-01T10:00:00.000Z";

type Member = { id: string; auth: string };
type Observed = { status: number | "network-error" | "timeout"; code?: string; retryAfter?: string | null };

describe("database restart under write load", () => {
  let cluster: TestCluster;
  let databaseUrl: string;
  let service: KeptProcess;

  beforeAll(async () => {
    cluster = await startTestCluster();
    databaseUrl = await cluster.createDatabase("kept_restart");
    service = await startService({
      DATABASE_URL: serviceUrl(databaseUrl),
      KEPT_DATA_DIR: path.join(await makeTempDir(), "data"),
      KEPT_DB_POOL_SIZE: "10",
      KEPT_DB_CONNECT_TIMEOUT_MS: "1000",
      KEPT_RATE_LIMIT_PER_MINUTE: "1000000",
      KEPT_AUTH_RATE_LIMIT_PER_MINUTE: "1000000",
      LOG_LEVEL: "warn",
    });
    await service.waitForReady();
  });

  afterAll(async () => {
    await cleanUp();
    await cluster?.destroy();
  });

  async function post(urlPath: string, body: unknown, headers: Record<string, string> = {}) {
    return service.fetch(urlPath, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  }

  async function signUp(name: string): Promise<Member> {
    const response = await post("/v1/auth/register", {
      email: `${name}-${Date.now()}@example.com`,
      password: "correct horse battery",
      displayName: name,
      timeZone: "Europe/Paris",
    });
    expect(response.status).toBe(201);
    const body = (await response.json()) as { user: { id: string }; accessToken: string };
    return { id: body.user.id, auth: `Bearer ${body.accessToken}` };
  }

  async function link(i: number): Promise<{ pairId: string; members: Member[] }> {
    const a = await signUp(`a${i}`);
    const b = await signUp(`b${i}`);
    const invite = (await (await post("/v1/invites", {}, { authorization: a.auth })).json()) as { code: string };
    const pair = await post("/v1/pairs", { inviteCode: invite.code }, { authorization: b.auth });
    expect(pair.status).toBe(201);
    return { pairId: ((await pair.json()) as { id: string }).id, members: [a, b] };
  }

  it("answers 503 with Retry-After during the outage, recovers without a restart, and loses or duplicates nothing", async () => {
    const pairs = await Promise.all(Array.from({ length: PAIRS }, (_, i) => link(i)));
    const observed: Observed[] = [];
    const acknowledged = new Map<string, { pairId: string; id: string; replayed: boolean }>();
    let stopping = false;

    /** One client: key after key, each retried with the same key until a 2xx. */
    const writer = async (pairId: string, member: Member, name: string) => {
      for (let n = 0; !stopping; n++) {
        const key = `${name}-${n}`;
        const deadline = Date.now() + 90_000;
        while (true) {
          if (Date.now() > deadline) throw new Error(`${key} never succeeded`);
          let response: Response;
          try {
            response = await post(
              `/v1/pairs/${pairId}/commitments`,
              { title: key, dueAt: DUE },
              { authorization: member.auth, "idempotency-key": key },
            );
          } catch (error) {
            const timedOut = (error as Error).name === "TimeoutError";
            observed.push({ status: timedOut ? "timeout" : "network-error" });
            await delay(50);
            continue;
          }
          const body = (await response.json()) as { id?: string; code?: string };
          observed.push({ status: response.status, code: body.code, retryAfter: response.headers.get("retry-after") });
          if (response.status === 201) {
            acknowledged.set(key, {
              pairId,
              id: body.id as string,
              replayed: response.headers.get("idempotent-replayed") === "true",
            });
            break;
          }
          await delay(50);
        }
      }
    };
    const writers = pairs.flatMap(({ pairId, members }, p) =>
      members.flatMap((member, m) =>
        Array.from({ length: WRITERS_PER_PAIR / 2 }, (_, w) => writer(pairId, member, `p${p}m${m}w${w}`)),
      ),
    );
    const running = Promise.all(writers);

    const waitFor = async (what: string, condition: () => boolean | Promise<boolean>) => {
      const deadline = Date.now() + 60_000;
      while (!(await condition())) {
        if (Date.now() > deadline) {
          const seen = observed.map((o) => `${o.status}${o.code ? ` ${o.code}` : ""}`);
          const counts = Object.fromEntries([...new Set(seen)].map((s) => [s, seen.filter((x) => x === s).length]));
          throw new Error(
            `gave up waiting for ${what}; seen ${JSON.stringify(counts)}\n${service.stderr().slice(-3000)}`,
          );
        }
        await delay(50);
      }
    };
    const readiness = async () => {
      const response = await service.fetch("/readyz");
      return { status: response.status, type: response.headers.get("content-type"), body: await response.text() };
    };

    await waitFor("writes before the outage", () => acknowledged.size >= 20);
    const pid = service.child.pid;

    await cluster.stop();
    const outageStart = observed.length;
    await waitFor(
      "503s during the outage",
      () => observed.slice(outageStart).filter((o) => o.status === 503).length >= 10,
    );
    const notReady = await readiness();
    expect(notReady.status).toBe(503);
    expect(notReady.type).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(notReady.body)).toMatchObject({ code: "NOT_READY" });

    await cluster.start();
    await waitFor("ready again", async () => (await readiness()).status === 200);
    const afterRestart = acknowledged.size;
    await waitFor("writes after the restart", () => acknowledged.size >= afterRestart + 20);
    stopping = true;
    await running;

    // The same process served throughout.
    expect(service.child.pid).toBe(pid);
    expect(service.child.exitCode).toBeNull();

    const statuses = observed.map((o) => o.status);
    const tally = Object.fromEntries([...new Set(statuses)].map((s) => [s, statuses.filter((x) => x === s).length]));
    // No hangs, no dropped connections, no 500s: 201, or 503 while the database is away.
    expect(new Set(statuses), JSON.stringify(tally)).toEqual(new Set([201, 503]));
    for (const o of observed.filter((x) => x.status === 503)) {
      expect(o.code).toBe("DATABASE_UNAVAILABLE");
      expect(Number(o.retryAfter)).toBeGreaterThan(0);
    }

    // Every acknowledged commitment exists exactly once; retried keys were not duplicated.
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ id: string; pair_id: string; title: string }>(
        "SELECT id, pair_id, title FROM commitments",
      );
      const byTitle = new Map<string, string[]>();
      for (const row of rows) byTitle.set(row.title, [...(byTitle.get(row.title) ?? []), row.id]);
      expect(rows.length).toBe(acknowledged.size);
      for (const [key, ack] of acknowledged) expect(byTitle.get(key), key).toEqual([ack.id]);
    } finally {
      await client.end();
    }

    // Each pair's chain verifies, with gap-free seq: pair.linked plus one event per commitment.
    for (const { pairId, members } of pairs) {
      const auth = { authorization: members[0]?.auth ?? "" };
      const verify = await service.fetch(`/v1/pairs/${pairId}/verify`, { headers: auth });
      const verification = (await verify.json()) as { valid: boolean; lastSeq: number };
      const created = [...acknowledged.values()].filter((a) => a.pairId === pairId).length;
      expect(verification).toMatchObject({ valid: true, lastSeq: created + 1 });
      const seqs: number[] = [];
      let after = 0;
      while (true) {
        const page = (await (
          await service.fetch(`/v1/pairs/${pairId}/events?limit=100&after=${after}`, { headers: auth })
        ).json()) as { data: { seq: number }[]; nextCursor: string | null };
        seqs.push(...page.data.map((e) => e.seq));
        if (page.nextCursor === null) break;
        after = Number(page.nextCursor);
      }
      expect(seqs).toEqual(Array.from({ length: created + 1 }, (_, i) => i + 1));
    }

    expect(await service.stop("SIGTERM"), service.stderr()).toEqual({ code: 0, signal: null });
  });
});
