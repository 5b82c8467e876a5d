import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { linkPair } from "../helpers/pairs.js";
import { isEvent, listen, openStream, refused, type StreamClient, ticketFor } from "../helpers/stream.js";
import { registerUser } from "../helpers/users.js";

let t: TestApp;
let base: string;
const clients: StreamClient[] = [];
beforeAll(async () => {
  t = await buildTestApp({ passwordHasher: fastHasher, env: { CORS_ORIGINS: "https://app.example.com" } });
  base = await listen(t);
});
afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  await t.close();
});

async function connect(user: Parameters<typeof ticketFor>[1], extra = ""): Promise<StreamClient> {
  const client = await openStream(base, `ticket=${await ticketFor(t, user)}${extra}`);
  clients.push(client);
  return client;
}

const rename = (user: { auth: Record<string, string> }, displayName: string) =>
  t.http.patch("/v1/me").set(user.auth).send({ displayName }).expect(200);

describe("the stream", () => {
  it("says hello, then delivers an action by one partner to both, live", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    const a = await connect(inviter);
    const b = await connect(joiner);
    const hello = await b.waitFor((m) => m.type === "hello");
    expect(hello).toEqual({ type: "hello", userId: joiner.id, pairId, lastSeq: 1 });
    await rename(inviter, "Alexandra");
    const [forA, forB] = await Promise.all([a.waitFor(isEvent(2)), b.waitFor(isEvent(2))]);
    const timeline = await t.http.get(`/v1/pairs/${pairId}/events?after=1`).set(joiner.auth).expect(200);
    // The same event object as the timeline, hash included.
    expect(forB.event).toEqual(timeline.body.data[0]);
    expect(forA.event).toEqual(timeline.body.data[0]);
    expect(b.seqs()).toEqual([2]);
  });

  it("replays everything after `after`, then goes live, with no gap and no duplicate", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    for (let i = 0; i < 50; i++) await rename(inviter, `Name ${i}`);
    // Writes keep coming while the replay runs.
    const burst = Promise.all(Array.from({ length: 20 }, (_, i) => rename(inviter, `Burst ${i}`)));
    const b = await connect(joiner, "&after=10");
    await burst;
    await rename(inviter, "Last");
    await b.waitFor(isEvent(72));
    expect(b.seqs()).toEqual(Array.from({ length: 62 }, (_, i) => i + 11));
    const hello = b.messages[0];
    expect(hello?.type).toBe("hello");
    expect(pairId).toBeTruthy();
  });

  it("resumes on request, and answers ping and bad frames", async () => {
    const { inviter, joiner } = await linkPair(t);
    await rename(inviter, "One");
    const b = await connect(joiner);
    await b.waitFor((m) => m.type === "hello");
    b.ws.send(JSON.stringify({ type: "resume", after: 0 }));
    await b.waitFor(isEvent(2));
    expect(b.seqs()).toEqual([1, 2]);
    b.ws.send(JSON.stringify({ type: "ping" }));
    await b.waitFor((m) => m.type === "pong");
    b.ws.send("not json");
    b.ws.send(JSON.stringify({ type: "resume", after: -3 }));
    b.ws.send(JSON.stringify({ type: "subscribe", pairId: "x" }));
    await b.waitFor(() => b.messages.filter((m) => m.type === "error").length === 3);
    expect(b.messages.filter((m) => m.type === "error").every((m) => m.code === "INVALID_MESSAGE")).toBe(true);
    // Still open and serving.
    await rename(inviter, "Two");
    await b.waitFor(isEvent(3));
  });

  it("closes with 1009 on a frame over 64 KiB", async () => {
    const { joiner } = await linkPair(t);
    const b = await connect(joiner);
    await b.waitFor((m) => m.type === "hello");
    b.ws.send(JSON.stringify({ type: "ping", pad: "x".repeat(70_000) }));
    expect((await b.closed).code).toBe(1009);
  });
});

describe("admission, before the upgrade", () => {
  it("refuses missing, reused, expired and unknown tickets with 401", async () => {
    const { joiner } = await linkPair(t);
    expect((await refused(openStream(base, ""))).status).toBe(401);
    expect((await refused(openStream(base, "ticket=made-up"))).body.code).toBe("STREAM_TICKET_INVALID");
    const ticket = await ticketFor(t, joiner);
    clients.push(await openStream(base, `ticket=${ticket}`));
    expect((await refused(openStream(base, `ticket=${ticket}`))).status).toBe(401);
    const stale = await ticketFor(t, joiner);
    t.clock.advance(31_000);
    expect((await refused(openStream(base, `ticket=${stale}`))).status).toBe(401);
  });

  it("refuses a ticket with someone else's token, a foreign origin (403), and tickets without a pair (409)", async () => {
    const { joiner } = await linkPair(t);
    const stranger = await registerUser(t);
    const ticket = await ticketFor(t, joiner);
    const foreign = await refused(openStream(base, `ticket=${ticket}`, stranger.auth));
    expect(foreign.status).toBe(401);
    const origin = await refused(
      openStream(base, `ticket=${await ticketFor(t, joiner)}`, { Origin: "https://evil.example" }),
    );
    expect(origin).toMatchObject({ status: 403, body: { code: "ORIGIN_NOT_ALLOWED" } });
    clients.push(await openStream(base, `ticket=${await ticketFor(t, joiner)}`, { Origin: "https://app.example.com" }));
    const noPair = await t.http.post("/v1/stream/tickets").set(stranger.auth).expect(409);
    expect(noPair.body.code).toBe("NO_ACTIVE_PAIR");
    await t.http.post("/v1/stream/tickets").expect(401);
  });

  it("lets a server-side client use its Bearer token, and caps streams per user", async () => {
    const { joiner } = await linkPair(t);
    for (let i = 0; i < 5; i++) clients.push(await openStream(base, "", joiner.auth));
    const capped = await refused(openStream(base, "", joiner.auth));
    expect(capped).toMatchObject({ status: 429, body: { code: "STREAM_LIMIT" } });
  });

  it("answers a plain HTTP request with 426", async () => {
    const { joiner } = await linkPair(t);
    const response = await t.http.get("/v1/stream").set(joiner.auth).expect(426);
    expect(response.body.code).toBe("UPGRADE_REQUIRED");
  });

  it("binds a stream to the caller's own pair: another pair's events never reach it", async () => {
    const mine = await linkPair(t);
    const theirs = await linkPair(t);
    const stranger = await connect(theirs.joiner);
    const member = await connect(mine.joiner);
    await Promise.all([stranger.waitFor((m) => m.type === "hello"), member.waitFor((m) => m.type === "hello")]);
    expect(stranger.messages[0]).toMatchObject({ pairId: theirs.pairId });
    await rename(mine.inviter, "Private");
    await member.waitFor(isEvent(2));
    // A later event of the stranger's own pair arrives; nothing of the other pair came before it.
    await rename(theirs.inviter, "Theirs");
    const own = await stranger.waitFor(isEvent(2));
    expect((own.event as { pairId: string }).pairId).toBe(theirs.pairId);
    expect(stranger.messages.filter((m) => m.type === "event")).toHaveLength(1);
  });

  it("never logs tickets", async () => {
    expect(t.logs.join("")).not.toMatch(/ticket=[A-Za-z0-9_-]{20,}/);
  });
});

describe("closing", () => {
  it("leaving sends pair.ended to both, then closes with 4004", async () => {
    const { pairId, inviter, joiner } = await linkPair(t);
    const a = await connect(inviter);
    const b = await connect(joiner);
    await Promise.all([a.waitFor((m) => m.type === "hello"), b.waitFor((m) => m.type === "hello")]);
    await t.http.post(`/v1/pairs/${pairId}/leave`).set(inviter.auth).expect(200);
    for (const client of [a, b]) {
      const ended = await client.waitFor(
        (m) => m.type === "event" && (m.event as { type: string }).type === "pair.ended",
      );
      expect(ended).toBeTruthy();
      expect((await client.closed).code).toBe(4004);
    }
  });

  it("deleting an account closes all of that person's sockets (4001); the partner gets pair.ended, then 4004", async () => {
    const { inviter, joiner } = await linkPair(t);
    const mine = await connect(inviter);
    const theirs = await connect(joiner);
    await Promise.all([mine.waitFor((m) => m.type === "hello"), theirs.waitFor((m) => m.type === "hello")]);
    await t.http.delete("/v1/me").set(inviter.auth).send({ password: inviter.password }).expect(204);
    expect([4001, 4004]).toContain((await mine.closed).code);
    await theirs.waitFor((m) => m.type === "event" && (m.event as { type: string }).type === "pair.ended");
    expect((await theirs.closed).code).toBe(4004);
  });

  it("logout closes that login's sockets only; logout-all closes every one (4001)", async () => {
    const { inviter } = await linkPair(t);
    const second = await t.http
      .post("/v1/auth/login")
      .send({ email: inviter.email, password: inviter.password })
      .expect(200);
    const secondUser = {
      ...inviter,
      refreshToken: second.body.refreshToken,
      auth: { Authorization: `Bearer ${second.body.accessToken}` },
    };
    const first = await connect(inviter);
    const other = await connect(secondUser);
    await Promise.all([first.waitFor((m) => m.type === "hello"), other.waitFor((m) => m.type === "hello")]);
    await t.http.post("/v1/auth/logout").send({ refreshToken: inviter.refreshToken }).expect(204);
    expect((await first.closed).code).toBe(4001);
    expect(other.ws.readyState).toBe(WebSocket.OPEN);
    await t.http.post("/v1/auth/logout-all").set(secondUser.auth).expect(204);
    expect((await other.closed).code).toBe(4001);
  });

  it("a reused refresh token ends its login: that login's sockets close (4001)", async () => {
    const { inviter } = await linkPair(t);
    const socket = await connect(inviter);
    await socket.waitFor((m) => m.type === "hello");
    await t.http.post("/v1/auth/refresh").send({ refreshToken: inviter.refreshToken }).expect(200);
    const reuse = await t.http.post("/v1/auth/refresh").send({ refreshToken: inviter.refreshToken }).expect(401);
    expect(reuse.body.code).toBe("REFRESH_TOKEN_REUSED");
    expect((await socket.closed).code).toBe(4001);
    await t.http.get("/v1/me").set(inviter.auth).expect(401);
  });
});
