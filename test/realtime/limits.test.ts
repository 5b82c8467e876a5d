import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLIENT_FRAME_BURST, CLIENT_FRAMES_PER_SECOND } from "../../src/modules/realtime/index.js";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { databaseUrl } from "../helpers/database.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { linkPair } from "../helpers/pairs.js";
import { isEvent, listen, openStream, refused, type StreamClient, ticketFor } from "../helpers/stream.js";
import type { SignedInUser } from "../helpers/users.js";

/**
 * What one socket may ask of the server (issue: one socket sent 4,661
 * `resume {after: 0}` in 10 s and was sent 50,802 frames): client frames
 * are rate limited per socket, each resume counts against the person's
 * request budget, and a socket has one replay in flight at a time.
 */

const clients: StreamClient[] = [];
afterAll(() => {
  for (const c of clients) c.ws.terminate();
});

async function connect(t: TestApp, base: string, user: SignedInUser, extra = ""): Promise<StreamClient> {
  const client = await openStream(base, `ticket=${await ticketFor(t, user)}${extra}`);
  clients.push(client);
  await client.waitFor((m) => m.type === "hello");
  return client;
}

const PING = JSON.stringify({ type: "ping" });
const resumeAfter = (after: number) => JSON.stringify({ type: "resume", after });
const pongs = (c: StreamClient) => c.messages.filter((m) => m.type === "pong").length;
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const rename = (t: TestApp, user: SignedInUser, displayName: string) =>
  t.http.patch("/v1/me").set(user.auth).send({ displayName }).expect(200);

describe("client frames, per socket", () => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await buildTestApp({ passwordHasher: fastHasher });
    base = await listen(t);
  });
  afterAll(() => t.close());

  it("a burst past the socket's bucket closes it with 1008", async () => {
    const { joiner } = await linkPair(t);
    const c = await connect(t, base, joiner);
    const closedBefore = t.app.realtimeStats().closedFlooding;
    for (let i = 0; i <= CLIENT_FRAME_BURST; i++) c.ws.send(PING);
    const outcome = await Promise.race([
      c.closed,
      c.waitFor(() => pongs(c) === CLIENT_FRAME_BURST + 1).then(() => "every frame was answered"),
    ]);
    expect(outcome).toEqual({ code: 1008, reason: "too many frames" });
    expect(pongs(c)).toBeLessThanOrEqual(CLIENT_FRAME_BURST);
    expect(t.app.realtimeStats().closedFlooding).toBe(closedBefore + 1);
  });

  it("the bucket refills with the clock: a client within the rate stays open", async () => {
    const { joiner } = await linkPair(t);
    const c = await connect(t, base, joiner);
    for (let i = 0; i < CLIENT_FRAME_BURST; i++) c.ws.send(PING);
    await c.waitFor(() => pongs(c) === CLIENT_FRAME_BURST);
    // One second refills CLIENT_FRAMES_PER_SECOND frames, and not one more.
    t.clock.advance(1000);
    for (let i = 0; i < CLIENT_FRAMES_PER_SECOND; i++) c.ws.send(PING);
    await c.waitFor(() => pongs(c) === CLIENT_FRAME_BURST + CLIENT_FRAMES_PER_SECOND);
    c.ws.send(PING);
    const outcome = await Promise.race([
      c.closed,
      c.waitFor(() => pongs(c) > CLIENT_FRAME_BURST + CLIENT_FRAMES_PER_SECOND).then(() => "answered"),
    ]);
    expect(outcome).toEqual({ code: 1008, reason: "too many frames" });
    expect(pongs(c)).toBe(CLIENT_FRAME_BURST + CLIENT_FRAMES_PER_SECOND);
  });
});

describe("resumes and the person's request budget", () => {
  const PER_MINUTE = 5;
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await buildTestApp({ passwordHasher: fastHasher, env: { KEPT_RATE_LIMIT_PER_MINUTE: String(PER_MINUTE) } });
    base = await listen(t);
  });
  afterAll(() => t.close());

  it("each resume counts like a request of that person; past the budget it answers RATE_LIMITED and is not served", async () => {
    const { inviter, joiner } = await linkPair(t);
    await rename(t, inviter, "Alexandra");
    const c = await connect(t, base, joiner);
    const lastSeq = c.messages[0]?.lastSeq as number;
    // A fresh one-minute window for every bucket.
    t.clock.advance(60_000);
    for (let i = 0; i < PER_MINUTE; i++) c.ws.send(resumeAfter(lastSeq));
    // One past the budget; it would replay the whole timeline if it were served.
    c.ws.send(resumeAfter(0));
    // Frames are answered in order: by the pong, every resume has been.
    c.ws.send(PING);
    await c.waitFor((m) => m.type === "pong");
    const errors = c.messages.filter((m) => m.type === "error");
    expect(errors.map((m) => m.code)).toEqual(["RATE_LIMITED"]);
    expect(c.seqs()).toEqual([]);
    // The same budget as the person's HTTP requests: they are over it too, their partner is not.
    expect((await t.http.get("/v1/me").set(joiner.auth).expect(429)).body.code).toBe("RATE_LIMITED");
    await t.http.get("/v1/me").set(inviter.auth).expect(200);
    // A replay on connect costs the same: refused before the upgrade.
    const replayOnConnect = await refused(
      openStream(base, "after=0", { Authorization: `Bearer ${joiner.accessToken}` }),
    );
    expect(replayOnConnect.status).toBe(429);
    expect(replayOnConnect.body.code).toBe("RATE_LIMITED");
    // The socket stays open and live.
    await rename(t, inviter, "Alex");
    await c.waitFor(isEvent(lastSeq + 1));
    expect(c.seqs()).toEqual([lastSeq + 1]);
  });
});

describe("one replay in flight per socket", () => {
  let t: TestApp;
  let base: string;
  let pair: Awaited<ReturnType<typeof linkPair>>;
  /** The owner's rights on this file's database: LOCK TABLE takes more than reading. */
  let ownerUrl: string;
  beforeAll(async () => {
    t = await buildTestApp({ passwordHasher: fastHasher });
    base = await listen(t);
    ownerUrl = databaseUrl(new URL(t.databaseUrl).pathname.slice(1));
    pair = await linkPair(t);
    // More than one page (200) of events, so a replay takes two reads.
    for (let i = 0; i < 26; i++) {
      await Promise.all(Array.from({ length: 10 }, (_, j) => rename(t, pair.inviter, `Name ${i}.${j}`)));
    }
  });
  afterAll(() => t.close());

  async function client(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: ownerUrl });
    await c.connect();
    return c;
  }

  /**
   * Holds a replay between its two reads, without timing: `first` locks the
   * event table, the replay's first read queues behind it, `second` queues
   * behind that read; when `first` lets go, the first read (seqs after
   * `after`, one page) runs and `second` takes the lock, so the replay's
   * second read waits until `release()`.
   */
  async function holdBetweenPages(startReplay: () => void): Promise<{ release(): Promise<void> }> {
    const [first, second, observer] = await Promise.all([client(), client(), client()]);
    const waiting = async () =>
      (
        await observer.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'events'::regclass AND NOT granted",
        )
      ).rows[0]?.n ?? 0;
    const until = async (n: number) => {
      for (let i = 0; i < 10_000; i++) if ((await waiting()) >= n) return;
      throw new Error(`never saw ${n} waiting locks`);
    };
    await first.query("BEGIN");
    await first.query("LOCK TABLE events IN ACCESS EXCLUSIVE MODE");
    startReplay();
    await until(1);
    await second.query("BEGIN");
    const secondLocked = second.query("LOCK TABLE events IN ACCESS EXCLUSIVE MODE");
    await until(2);
    await first.query("COMMIT");
    await secondLocked;
    return {
      async release() {
        await second.query("COMMIT");
        await Promise.all([first.end(), second.end(), observer.end()]);
      },
    };
  }

  it("a burst of resumes while a replay runs starts no second one: each event is sent once, in seq order", async () => {
    const c = await connect(t, base, pair.joiner);
    const head = c.messages[0]?.lastSeq as number;
    expect(head).toBeGreaterThan(200);
    const held = await holdBetweenPages(() => c.ws.send(resumeAfter(0)));
    await c.waitFor(isEvent(200));
    for (let i = 0; i < 10; i++) c.ws.send(resumeAfter(0));
    c.ws.send(PING);
    await c.waitFor((m) => m.type === "pong");
    await held.release();
    await rename(t, pair.inviter, "After the replay");
    await c.waitFor(isEvent(head + 1));
    await rename(t, pair.inviter, "And once more");
    await c.waitFor(isEvent(head + 2));
    expect(c.seqs()).toEqual(range(1, head + 2));
  });

  it("a resume for earlier events during a replay is replayed next, once; the last such resume wins", async () => {
    const ticket = await ticketFor(t, pair.joiner);
    let opening: Promise<StreamClient> | undefined;
    // Connecting with `after` starts the replay.
    const held = await holdBetweenPages(() => {
      opening = openStream(base, `ticket=${ticket}&after=50`);
    });
    if (!opening) throw new Error("the stream was not opened");
    const stream = await opening;
    clients.push(stream);
    const head = (await stream.waitFor((m) => m.type === "hello")).lastSeq as number;
    await stream.waitFor(isEvent(250));
    stream.ws.send(resumeAfter(10));
    stream.ws.send(resumeAfter(20));
    stream.ws.send(PING);
    await stream.waitFor((m) => m.type === "pong");
    await held.release();
    // The running replay ends at the head; the pending one (after 20) follows, then live events.
    await stream.waitFor(isEvent(head));
    await rename(t, pair.inviter, "Live again");
    await stream.waitFor(isEvent(head + 1));
    await rename(t, pair.inviter, "And again");
    await stream.waitFor(isEvent(head + 2));
    expect(stream.seqs()).toEqual([...range(51, head), ...range(21, head + 2)]);
  });
});
