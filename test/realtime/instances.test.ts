import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { linkPair } from "../helpers/pairs.js";
import { isEvent, listen, openStream, type StreamClient, ticketFor } from "../helpers/stream.js";

/** Two instances of the service on one database, as behind a load balancer without sticky sessions. */
let a: TestApp;
let b: TestApp;
let baseB: string;
const clients: StreamClient[] = [];
beforeAll(async () => {
  a = await buildTestApp({ passwordHasher: fastHasher, env: { KEPT_STREAM_CATCH_UP_MS: "600000" } });
  b = await buildTestApp({
    passwordHasher: fastHasher,
    databaseUrl: a.databaseUrl,
    clock: a.clock,
    env: { KEPT_STREAM_CATCH_UP_MS: "600000", KEPT_STREAM_MAX_BUFFER_BYTES: "16384" },
  });
  baseB = await listen(b);
});
afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  await b.close();
  await a.close();
});

async function withClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: a.databaseUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

describe("across instances", () => {
  it("an event written through instance A reaches a socket held by instance B", async () => {
    const { inviter, joiner } = await linkPair(a);
    const socket = await openStream(baseB, `ticket=${await ticketFor(a, joiner)}`);
    clients.push(socket);
    await socket.waitFor((m) => m.type === "hello");
    await a.http.patch("/v1/me").set(inviter.auth).send({ displayName: "Via A" }).expect(200);
    // Delivered by notification: catch-up ticks are ten minutes apart here.
    await socket.waitFor(isEvent(2));
  });

  it("after the listening connection is killed, every socket gets every event", async () => {
    const { inviter, joiner } = await linkPair(a);
    const socket = await openStream(baseB, `ticket=${await ticketFor(a, joiner)}`);
    clients.push(socket);
    await socket.waitFor((m) => m.type === "hello");
    const killed = await withClient(async (client) => {
      const { rows } = await client.query(
        "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'kept-listener' AND datname = current_database()",
      );
      return rows.length;
    });
    expect(killed).toBe(2);
    for (let i = 0; i < 10; i++) {
      await a.http
        .patch("/v1/me")
        .set(inviter.auth)
        .send({ displayName: `While down ${i}` })
        .expect(200);
    }
    await socket.waitFor(isEvent(11), 10_000);
    expect(socket.seqs()).toEqual(Array.from({ length: 10 }, (_, i) => i + 2));
    // And live delivery works again through the new listener.
    await a.http.patch("/v1/me").set(inviter.auth).send({ displayName: "After" }).expect(200);
    await socket.waitFor(isEvent(12), 10_000);
  });

  it("events written here are sent without a read, others' by notification: each socket gets each event once, in order", async () => {
    const { pairId, inviter, joiner } = await linkPair(a);
    const baseA = await listen(a);
    const onA = await openStream(baseA, `ticket=${await ticketFor(a, joiner)}`);
    const onB = await openStream(baseB, `ticket=${await ticketFor(b, inviter)}`);
    clients.push(onA, onB);
    await Promise.all([onA.waitFor((m) => m.type === "hello"), onB.waitFor((m) => m.type === "hello")]);
    const handedOver = a.app.realtimeStats().handedOver;
    const due = new Date(a.clock.now().getTime() + 86_400_000).toISOString();
    const create = (t: TestApp, as: typeof inviter, title: string) =>
      t.http.post(`/v1/pairs/${pairId}/commitments`).set(as.auth).send({ title, dueAt: due }).expect(201);
    // One write through A, alone: A's socket gets it handed over from the write itself.
    await create(a, inviter, "Alone");
    await onA.waitFor(isEvent(2));
    expect(a.app.realtimeStats().handedOver).toBe(handedOver + 1);
    // Then both instances at once: the two paths interleave.
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? create(a, inviter, `A${i}`) : create(b, joiner, `B${i}`))),
    );
    await Promise.all([onA.waitFor(isEvent(22)), onB.waitFor(isEvent(22))]);
    const all = Array.from({ length: 21 }, (_, i) => i + 2);
    expect(onA.seqs()).toEqual(all);
    expect(onB.seqs()).toEqual(all);
  });

  it("a resume to an earlier seq while events stream in gets every event after it, once, in order", async () => {
    const { pairId, inviter, joiner } = await linkPair(a);
    const due = new Date(a.clock.now().getTime() + 86_400_000).toISOString();
    const create = (i: number) =>
      a.http
        .post(`/v1/pairs/${pairId}/commitments`)
        .set(inviter.auth)
        .send({ title: `W${i}`, dueAt: due })
        .expect(201);
    for (let i = 0; i < 10; i++) await create(i);
    // On B: every event written through A reaches it by notification, so B's pump reads the log each time.
    const socket = await openStream(baseB, `ticket=${await ticketFor(b, joiner)}`);
    clients.push(socket);
    await socket.waitFor((m) => m.type === "hello");
    // Started now (a supertest request only runs once it is awaited or then-ed).
    const writes = Array.from({ length: 30 }, (_, i) => create(10 + i).then((response) => response.status));
    for (const after of [1, 5, 3]) {
      await socket.waitFor((m) => m.type === "event" && (m.event as { seq: number }).seq > 12 + after);
      socket.messages.length = 0;
      socket.ws.send(JSON.stringify({ type: "resume", after }));
      await socket.waitFor(isEvent(after + 1));
    }
    await Promise.all(writes);
    await socket.waitFor(isEvent(41));
    // From the last resume (after 3) on: 4, 5, …, 41 exactly, whatever was in flight.
    const seqs = socket.seqs();
    const start = seqs.indexOf(4);
    expect(seqs.slice(start)).toEqual(Array.from({ length: 38 }, (_, i) => i + 4));
  });

  it("a login ended through instance A is refused by instance B once A's broadcast arrives", async () => {
    const { inviter } = await linkPair(a);
    // B has answered this login (and remembers it as live).
    await b.http.get("/v1/me").set(inviter.auth).expect(200);
    const socket = await openStream(baseB, `ticket=${await ticketFor(b, inviter)}`);
    clients.push(socket);
    await socket.waitFor((m) => m.type === "hello");
    await a.http.post("/v1/auth/logout-all").set(inviter.auth).expect(204);
    // The socket's 4001 shows B has heard the broadcast; the token is refused from then on.
    expect((await socket.closed).code).toBe(4001);
    const refusedByB = await b.http.get("/v1/me").set(inviter.auth).expect(401);
    expect(refusedByB.body.code).toBe("UNAUTHENTICATED");
  });

  it("a consumer that stops reading is closed (4008) instead of growing server memory, and can resume", async () => {
    const { pairId, joiner } = await linkPair(a);
    const socket = await openStream(baseB, `ticket=${await ticketFor(a, joiner)}`);
    clients.push(socket);
    await socket.waitFor((m) => m.type === "hello");
    const before = b.app.realtimeStats().closedTooSlow;
    // Stop reading: the kernel buffers fill, then the server's send buffer grows.
    (socket.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    // Many events at once, written straight into the log (their hashes do not matter here).
    await withClient(async (client) => {
      await client.query("BEGIN");
      await client.query("SET LOCAL session_replication_role = replica");
      await client.query(
        `INSERT INTO events (pair_id, seq, type, actor_id, subject_type, subject_id, payload, occurred_at, prev_hash, hash)
         SELECT $1, s, 'member.updated', NULL, 'member', $2, jsonb_build_object('padding', repeat('x', 400)), now(), repeat('0', 64), repeat('0', 64)
         FROM generate_series(2, 20001) AS s`,
        [pairId, joiner.id],
      );
      await client.query("UPDATE event_heads SET last_seq = 20001 WHERE pair_id = $1", [pairId]);
      await client.query("SELECT pg_notify('kept_events', $1)", [JSON.stringify({ pairId, seq: 20001 })]);
      await client.query("COMMIT");
    });
    const deadline = Date.now() + 20_000;
    while (b.app.realtimeStats().closedTooSlow === before && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(b.app.realtimeStats().closedTooSlow).toBe(before + 1);
    (socket.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const { code } = await socket.closed;
    // 4008 when the close frame gets through, 1006 when the server had to cut the connection.
    expect([4008, 1006]).toContain(code);
    const received = socket.seqs();
    expect(received.length).toBeLessThan(20_000);
    expect(received).toEqual(Array.from({ length: received.length }, (_, i) => i + 2));
    // Resuming from the last seq received picks up exactly where it stopped.
    const last = received.at(-1) ?? 1;
    const again = await openStream(baseB, `ticket=${await ticketFor(a, joiner)}&after=${last}`);
    clients.push(again);
    await again.waitFor(isEvent(last + 1));
    expect(again.seqs()[0]).toBe(last + 1);
    again.ws.close();
  });
});
