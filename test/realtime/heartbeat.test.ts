import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { linkPair } from "../helpers/pairs.js";
import { listen, openStream, ticketFor } from "../helpers/stream.js";

let t: TestApp;
let base: string;
beforeAll(async () => {
  t = await buildTestApp({ passwordHasher: fastHasher, env: { KEPT_STREAM_HEARTBEAT_MS: "100" } });
  base = await listen(t);
});
afterAll(() => t.close());

describe("heartbeats", () => {
  it("keep answering peers alive and terminate a peer that stopped answering pings", async () => {
    const { joiner, inviter } = await linkPair(t);
    const healthy = await openStream(base, `ticket=${await ticketFor(t, inviter)}`);
    const dead = await openStream(base, `ticket=${await ticketFor(t, joiner)}`);
    await dead.waitFor((m) => m.type === "hello");
    // A peer that vanished: it neither reads nor answers.
    (dead.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const deadline = Date.now() + 10_000;
    while (t.app.realtimeStats().terminatedDead === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(t.app.realtimeStats().terminatedDead).toBe(1);
    // The healthy one, which answers pings, is still served.
    healthy.ws.send(JSON.stringify({ type: "ping" }));
    await healthy.waitFor((m) => m.type === "pong");
    healthy.ws.close();
    dead.ws.terminate();
  });
});

describe("shutting down", () => {
  it("closes every socket with 1001 (going away), so clients reconnect and resume elsewhere", async () => {
    const other = await buildTestApp({ passwordHasher: fastHasher });
    const otherBase = await listen(other);
    const { joiner } = await linkPair(other);
    const socket = await openStream(otherBase, `ticket=${await ticketFor(other, joiner)}`);
    await socket.waitFor((m) => m.type === "hello");
    await other.close();
    expect((await socket.closed).code).toBe(1001);
  });
});
