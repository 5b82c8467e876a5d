import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanUp, type KeptProcess, makeTempDir, startService } from "../helpers/process.js";

/**
 * The embedded default (no DATABASE_URL) after crashes: a real `src/server.ts`
 * process on a real embedded PostgreSQL, killed and restarted on one data
 * folder. Every check is a state (a pid running or not, a port, an exit code,
 * a log line), never a duration.
 */

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

async function waitUntil(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await delay(50);
  }
}

/** A process that exists and has not exited (an exited, unreaped one is a zombie). */
async function running(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
}

/** postmaster.pid: line 1 the server's pid, line 4 its port. */
async function postmaster(dataDir: string): Promise<{ pid: number; port: number }> {
  const lines = (await readFile(path.join(dataDir, "postgres", "postmaster.pid"), "utf8")).split("\n");
  return { pid: Number(lines[0]), port: Number(lines[3]) };
}

/** The shell that ties the server's life to its Kept process, found by the folder it names. */
async function watchdogOf(clusterDir: string): Promise<number | undefined> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const commandLine = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (commandLine.includes("kept-postgres-watchdog") && commandLine.includes(clusterDir)) return Number(entry);
  }
  return undefined;
}

/** An HTTP/1.1 connection written by hand, so a request can be left half-sent. */
function rawConnection(port: number) {
  const socket = net.connect(port, "127.0.0.1");
  let received = "";
  socket.setEncoding("utf8").on("data", (chunk: string) => {
    received += chunk;
  });
  const ended = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("error", () => {});
  return {
    socket,
    connected: new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject)),
    write: (text: string) => socket.write(text),
    /** Everything the server sent, once it has closed the connection. */
    async response(): Promise<{ status: number; headers: Record<string, string>; body: string }> {
      await ended;
      const [head = "", ...rest] = received.split("\r\n\r\n");
      const [statusLine = "", ...headerLines] = head.split("\r\n");
      const headers = Object.fromEntries(
        headerLines.map((line) => {
          const at = line.indexOf(":");
          return [line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim()];
        }),
      );
      return { status: Number(statusLine.split(" ")[1]), headers, body: rest.join("\r\n\r\n") };
    },
  };
}

/**
 * Bytes written before this resolves have been read by the server: they were
 * in its socket before the request this answers was sent.
 */
async function serverHasRead(service: KeptProcess): Promise<void> {
  expect((await service.fetch("/healthz")).status).toBe(200);
}

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(port, "127.0.0.1");
    probe.once("connect", () => {
      probe.destroy();
      resolve(false);
    });
    probe.once("error", () => resolve(true));
  });
}

const account = { email: `lifecycle-${randomBytes(4).toString("hex")}@example.com`, password: "correct horse battery" };

function postJson(service: KeptProcess, urlPath: string, body: unknown): Promise<Response> {
  return service.fetch(urlPath, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** Signs in with the account made in the first test; answers the status (and the answer, for failures). */
async function signIn(service: KeptProcess): Promise<[number, string]> {
  const response = await postJson(service, "/v1/auth/login", account);
  return [response.status, `${await response.text()}\n${service.stdout().slice(-4000)}`];
}

describe("the embedded PostgreSQL's lifecycle", () => {
  let dataDir: string;
  let clusterDir: string;
  const start = async (env: Record<string, string> = {}) => {
    const service = await startService({ KEPT_DATA_DIR: dataDir, ...env });
    await service.waitForReady(120_000);
    return service;
  };
  /** Runs `work` as the embedded server's superuser, on the `kept` database. */
  const asSuperuser = async <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => {
    const password = (await readFile(path.join(dataDir, "postgres-password"), "utf8")).trim();
    const client = new pg.Client({
      connectionString: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${(await postmaster(dataDir)).port}/kept`,
    });
    client.on("error", () => {});
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    dataDir = path.join(await makeTempDir("kept-lifecycle-"), "data");
    clusterDir = path.join(dataDir, "postgres");
  });
  afterAll(cleanUp);

  it("keeps the port it chose in the data folder across restarts, and hands an older database to the owner", async () => {
    const first = await start();
    const registered = await postJson(first, "/v1/auth/register", {
      ...account,
      displayName: "Sam",
      timeZone: "Europe/Paris",
    });
    expect(registered.status, await registered.text()).toBe(201);
    const kept = Number((await readFile(path.join(dataDir, "postgres-port"), "utf8")).trim());
    expect((await postmaster(dataDir)).port).toBe(kept);
    // As a data folder from before the roles had it: everything owned by the superuser.
    await asSuperuser((client) =>
      client.query("ALTER TABLE events OWNER TO postgres; ALTER DATABASE kept OWNER TO postgres"),
    );
    expect(await first.stop("SIGTERM"), first.stderr()).toEqual({ code: 0, signal: null });

    const second = await start();
    expect((await postmaster(dataDir)).port, second.stdout()).toBe(kept);
    expect(Number((await readFile(path.join(dataDir, "postgres-port"), "utf8")).trim())).toBe(kept);
    const { rows } = await asSuperuser((client) =>
      client.query<{ events: string; database: string }>(
        `SELECT pg_get_userbyid(c.relowner) AS events, pg_get_userbyid(d.datdba) AS database
         FROM pg_class c, pg_database d WHERE c.oid = 'events'::regclass AND d.datname = 'kept'`,
      ),
    );
    expect(rows[0]).toEqual({ events: "kept_owner", database: "kept_owner" });
    const [signedIn, answer] = await signIn(second);
    expect(signedIn, answer).toBe(200);
    expect(await second.stop("SIGTERM"), second.stderr()).toEqual({ code: 0, signal: null });
  });

  it("kill -9 of the service takes its PostgreSQL with it, and the next start serves the same data", async () => {
    const service = await start();
    const server = await postmaster(dataDir);
    expect(await running(server.pid)).toBe(true);
    service.child.kill("SIGKILL"); // the Node process only, not its group: a crash, an OOM kill
    expect((await service.waitForExit()).signal).toBe("SIGKILL");
    await waitUntil(async () => !(await running(server.pid)), "the embedded PostgreSQL stopping after its service");

    const again = await start();
    const [signedIn, answer] = await signIn(again);
    expect(signedIn, answer).toBe(200);
    expect(await again.stop("SIGTERM"), again.stderr()).toEqual({ code: 0, signal: null });
  });

  it("an orphaned PostgreSQL whose service is gone is stopped at the next start, not refused", async () => {
    const service = await start();
    const orphan = await postmaster(dataDir);
    // Both the service and what ties the server to it are gone: the server lives on, alone.
    const watchdog = await watchdogOf(clusterDir);
    if (watchdog !== undefined) process.kill(watchdog, "SIGKILL");
    service.child.kill("SIGKILL");
    await service.waitForExit();
    expect(await running(orphan.pid)).toBe(true);

    const next = await start();
    expect(await running(orphan.pid)).toBe(false);
    expect((await postmaster(dataDir)).pid).not.toBe(orphan.pid);
    const [signedIn, answer] = await signIn(next);
    expect(signedIn, answer).toBe(200);
    expect(await next.stop("SIGTERM"), next.stderr()).toEqual({ code: 0, signal: null });
    const stopped = logLines(next.stdout()).filter((line) => line.msg.includes("left running by a Kept process"));
    expect(stopped).toEqual([expect.objectContaining({ level: 40, pid: orphan.pid })]);
  });

  it("when its PostgreSQL dies the service exits non-zero, and a restart recovers", async () => {
    const service = await start();
    const server = await postmaster(dataDir);
    process.kill(server.pid, "SIGKILL");
    const exit = await service.waitForExit(60_000);
    expect(exit, service.stderr()).toEqual({ code: 1, signal: null });
    const lines = logLines(service.stdout());
    expect(lines.filter((line) => line.msg.startsWith("the embedded PostgreSQL exited unexpectedly"))).toEqual([
      expect.objectContaining({ level: 50, signal: "SIGKILL" }),
    ]);
    expect(lines.map((line) => line.msg)).not.toContain("shutdown took too long; exiting");

    const again = await start();
    const [signedIn, answer] = await signIn(again);
    expect(signedIn, answer).toBe(200);
    expect(await again.stop("SIGTERM"), again.stderr()).toEqual({ code: 0, signal: null });
  });

  it("a request arriving while closing is answered with a 503 problem: code, Retry-After, request id, Connection: close", async () => {
    const service = await start();
    // Half a request: its connection is not idle, so closing waits for it.
    const connection = rawConnection(service.port);
    await connection.connected;
    connection.write("GET /v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: closing-check-1\r\n");
    await serverHasRead(service);
    service.child.kill("SIGTERM");
    await waitUntil(() => refusesConnections(service.port), "the listener closing");
    connection.write("\r\n");
    const answer = await connection.response();

    expect(answer.status).toBe(503);
    expect(answer.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(answer.headers["retry-after"]).toBe("5");
    expect(answer.headers["x-request-id"]).toBe("closing-check-1");
    expect(answer.headers.connection).toBe("close");
    expect(JSON.parse(answer.body)).toMatchObject({ status: 503, code: "NOT_READY", requestId: "closing-check-1" });
    expect(await service.waitForExit(), service.stderr()).toEqual({ code: 0, signal: null });
  });

  it("SIGTERM with its PostgreSQL already dead stops at once and exits 0", async () => {
    const service = await start();
    const server = await postmaster(dataDir);
    const connection = rawConnection(service.port);
    await connection.connected;
    connection.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    await serverHasRead(service);
    service.child.kill("SIGTERM");
    // Closing waits for the half-sent request; meanwhile PostgreSQL dies.
    await waitUntil(() => refusesConnections(service.port), "the listener closing");
    process.kill(server.pid, "SIGKILL");
    await waitUntil(async () => !(await running(server.pid)), "PostgreSQL dying");
    connection.socket.destroy();

    expect(await service.waitForExit(60_000), service.stderr()).toEqual({ code: 0, signal: null });
    expect(logLines(service.stdout()).map((line) => line.msg)).not.toContain("shutdown took too long; exiting");
    expect(existsSync(clusterDir)).toBe(true);
  });
});
