import type { Logger } from "pino";
import type { WebSocket } from "ws";
import type { Clock } from "../../clock.js";
import type { PairEvent } from "../history/index.js";
import { type ClientMessage, clientMessageSchema, closeCodes, type ServerMessage } from "./realtime.schemas.js";

/** What the hub needs from the event log. */
export type EventSource = {
  list(
    pairId: string,
    query: { after: number; limit: number },
  ): Promise<{ data: PairEvent[]; nextCursor: string | null }>;
  heads(pairIds: string[]): Promise<Map<string, number>>;
};

/**
 * Counts one request against a person's budget (the per-account rate limit
 * that HTTP requests count against too) and answers whether it fits.
 */
export type RequestBudget = (
  userId: string,
) => Promise<{ allowed: true } | { allowed: false; retryAfterSeconds: number }>;

/**
 * Client frames per socket: a token bucket of CLIENT_FRAME_BURST frames,
 * refilled at CLIENT_FRAMES_PER_SECOND by the clock. A client pings or
 * resumes a few times a minute; past the bucket it is flooding, and the
 * socket closes with 1008.
 */
export const CLIENT_FRAME_BURST = 20;
export const CLIENT_FRAMES_PER_SECOND = 10;

export type HubOptions = {
  events: EventSource;
  logger: Logger;
  clock: Clock;
  requestBudget: RequestBudget;
  /** Past this many bytes waiting in a socket's send buffer, the consumer is too slow and is closed. */
  maxBufferedBytes: number;
  heartbeatMs: number;
};

type Connection = {
  socket: WebSocket;
  userId: string;
  familyId: string;
  pairId: string;
  /** The last seq this socket has been sent; every delivery is "what comes after". */
  cursor: number;
  /** Set once `hello` is out: nothing is sent before it. */
  ready: boolean;
  alive: boolean;
  closing: boolean;
  /**
   * The replay a `resume` (or `?after=`) started, while it runs: from `start`
   * until the pump has sent this socket everything up to the head. `pending`
   * is the cursor of a resume that came meanwhile asking for more (an
   * earlier seq than `start`): it is replayed next, once.
   */
  replay: { start: number; pending: number | null } | null;
  /** The per-socket token bucket: tokens left, as of `refilledAt` (clock ms). */
  frameTokens: number;
  refilledAt: number;
  /** Client frames are answered one after another, in order, and only after `hello`. */
  inbox: Promise<void>;
};

type PairChannel = { connections: Set<Connection>; pumping: boolean; dirty: boolean };

const PAGE = 200;

/**
 * The stream hub of one instance. The database is the source of truth: a
 * notification (or a resume, or a catch-up tick) only wakes a pair's pump,
 * which reads the events after the lowest cursor among that pair's sockets
 * and sends each socket what lies beyond its own cursor, in seq order. So
 * replay and live delivery are one mechanism, and nothing is sent twice or
 * skipped at the seam between them.
 */
export function createHub(options: HubOptions) {
  const { events, logger, clock } = options;
  const channels = new Map<string, PairChannel>();
  const byUser = new Map<string, Set<Connection>>();
  // handedOver: events sent as committed here, without reading them back.
  const stats = { closedTooSlow: 0, closedFlooding: 0, terminatedDead: 0, delivered: 0, handedOver: 0 };

  const send = (connection: Connection, message: ServerMessage | string) => {
    connection.socket.send(typeof message === "string" ? message : JSON.stringify(message));
  };

  function close(connection: Connection, code: number, reason: string): void {
    if (connection.closing) return;
    connection.closing = true;
    connection.socket.close(code, reason);
    // A peer that stops reading never completes the closing handshake.
    setTimeout(() => connection.socket.terminate(), 5_000).unref();
  }

  function channelOf(pairId: string): PairChannel {
    let channel = channels.get(pairId);
    if (!channel) {
      channel = { connections: new Set(), pumping: false, dirty: false };
      channels.set(pairId, channel);
    }
    return channel;
  }

  /**
   * Sends `event` to each of `ready` for which it is the next seq. Answers
   * whether one of them was behind it (a `resume` lowered its cursor while
   * the page was being read): the pump then reads again from there.
   */
  function deliver(ready: Connection[], event: PairEvent): boolean {
    const frame = JSON.stringify({ type: "event", event } satisfies ServerMessage);
    let behind = false;
    for (const connection of ready) {
      if (connection.closing || event.seq <= connection.cursor) continue;
      if (event.seq > connection.cursor + 1) {
        behind = true;
        continue;
      }
      send(connection, frame);
      connection.cursor = event.seq;
      stats.delivered++;
      if (event.type === "pair.ended") close(connection, closeCodes.pairEnded, "the pair has ended");
      else if (connection.socket.bufferedAmount > options.maxBufferedBytes) {
        stats.closedTooSlow++;
        close(connection, closeCodes.tooSlow, `too slow: reconnect with after=${connection.cursor}`);
      }
    }
    return behind;
  }

  const readyIn = (channel: PairChannel) => [...channel.connections].filter((c) => c.ready && !c.closing);

  async function pump(pairId: string): Promise<void> {
    const channel = channels.get(pairId);
    if (!channel) return;
    if (channel.pumping) {
      channel.dirty = true;
      return;
    }
    channel.pumping = true;
    try {
      do {
        channel.dirty = false;
        const ready = readyIn(channel);
        if (ready.length === 0) break;
        const after = Math.min(...ready.map((c) => c.cursor));
        const page = await events.list(pairId, { after, limit: PAGE });
        let behind = false;
        for (const event of page.data) behind = deliver(ready, event) || behind;
        // Read again only for a cursor lowered below this read's start (never loops on its own).
        if (behind && ready.some((c) => c.cursor < after)) channel.dirty = true;
        if (page.nextCursor !== null) channel.dirty = true;
        else {
          // This read reached the head: a socket at it has finished its replay.
          const head = page.data.at(-1)?.seq ?? after;
          for (const c of ready) if (c.cursor >= head && finishReplay(c)) channel.dirty = true;
        }
      } while (channel.dirty);
    } catch (error) {
      // The database is away: the catch-up tick or the listener's reconnect wakes this pair again,
      // from each socket's cursor (a pending resume's, if one came).
      for (const c of channel.connections) {
        if (c.replay?.pending != null) c.cursor = c.replay.pending;
        c.replay = null;
      }
      logger.warn({ err: error, pairId }, "stream delivery failed; will catch up");
    } finally {
      channel.pumping = false;
    }
  }

  /** Ends a socket's finished replay; answers true when a pending resume starts the next one. */
  function finishReplay(connection: Connection): boolean {
    const pending = connection.replay?.pending ?? null;
    if (pending === null) {
      connection.replay = null;
      return false;
    }
    connection.cursor = pending;
    connection.replay = { start: pending, pending: null };
    return true;
  }

  /**
   * `resume {after}`. One replay runs per socket: a resume that arrives while
   * one runs starts nothing. If that replay started at or before `after`, it
   * is already sending everything after `after`, in order; otherwise the
   * resume becomes the pending cursor, replayed once the running replay
   * reaches the head. The last resume decides: a burst costs at most one
   * more replay, and every event after the last `after` is sent, in order.
   */
  function resume(connection: Connection, after: number): void {
    const replay = connection.replay;
    if (replay && channels.get(connection.pairId)?.pumping) {
      replay.pending = after < replay.start ? after : null;
      // A client that already holds more than was sent skips ahead, as without a replay.
      if (after > connection.cursor) connection.cursor = after;
      return;
    }
    connection.cursor = after;
    connection.replay = { start: after, pending: null };
    void pump(connection.pairId);
  }

  /** The per-socket token bucket: answers false once the client sends faster than it allows. */
  function takeFrameToken(connection: Connection): boolean {
    const now = clock.now().getTime();
    const elapsed = Math.max(0, now - connection.refilledAt);
    connection.frameTokens = Math.min(
      CLIENT_FRAME_BURST,
      connection.frameTokens + (elapsed * CLIENT_FRAMES_PER_SECOND) / 1000,
    );
    connection.refilledAt = now;
    if (connection.frameTokens < 1) return false;
    connection.frameTokens -= 1;
    return true;
  }

  function remove(connection: Connection): void {
    const channel = channels.get(connection.pairId);
    channel?.connections.delete(connection);
    if (channel && channel.connections.size === 0) channels.delete(connection.pairId);
    const mine = byUser.get(connection.userId);
    mine?.delete(connection);
    if (mine && mine.size === 0) byUser.delete(connection.userId);
  }

  /** Every client frame: counted against the socket's bucket at once, answered in order after `hello`. */
  function onMessage(connection: Connection, data: Buffer, isBinary: boolean): void {
    if (connection.closing) return;
    if (!takeFrameToken(connection)) {
      stats.closedFlooding++;
      close(connection, closeCodes.tooManyFrames, "too many frames");
      return;
    }
    connection.inbox = connection.inbox
      .then(() => answer(connection, data, isBinary))
      .catch((error: unknown) => logger.warn({ err: error }, "stream frame failed"));
  }

  async function answer(connection: Connection, data: Buffer, isBinary: boolean): Promise<void> {
    if (connection.closing) return;
    let message: ClientMessage;
    try {
      const parsed = clientMessageSchema.safeParse(isBinary ? undefined : JSON.parse(data.toString("utf8")));
      if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? "invalid");
      message = parsed.data;
    } catch (error) {
      send(connection, {
        type: "error",
        code: "INVALID_MESSAGE",
        message: `Send JSON text frames {type: "resume", after} or {type: "ping"} (${(error as Error).message})`,
      });
      return;
    }
    if (message.type === "ping") {
      send(connection, { type: "pong" });
      return;
    }
    // A resume costs what a request does, in the same per-account budget.
    let budget: Awaited<ReturnType<RequestBudget>> = { allowed: true };
    try {
      budget = await options.requestBudget(connection.userId);
    } catch (error) {
      // The counts are unreachable, and so is the event log the replay would read: serve it as usual.
      logger.warn({ err: error }, "could not count a resume against the request budget");
    }
    if (connection.closing) return;
    if (!budget.allowed) {
      send(connection, {
        type: "error",
        code: "RATE_LIMITED",
        message: `Too many requests: this resume was not served; the stream goes on live. Resume again in ${budget.retryAfterSeconds} s`,
      });
      return;
    }
    resume(connection, message.after);
  }

  const heartbeat = setInterval(() => {
    for (const channel of channels.values()) {
      for (const connection of channel.connections) {
        if (!connection.alive) {
          stats.terminatedDead++;
          connection.socket.terminate();
          continue;
        }
        connection.alive = false;
        connection.socket.ping();
      }
    }
  }, options.heartbeatMs);
  heartbeat.unref();

  return {
    stats,

    connectionsOf(userId: string): number {
      return byUser.get(userId)?.size ?? 0;
    },

    /**
     * Takes a freshly upgraded socket. Handlers are attached at once (so no
     * frame is missed); `hello` goes out once the pair's head is read, then
     * the replay (with `after`) and live events follow from the same pump.
     */
    async attach(socket: WebSocket, subject: { userId: string; familyId: string; pairId: string; after?: number }) {
      let helloSent: () => void = () => {};
      const connection: Connection = {
        socket,
        userId: subject.userId,
        familyId: subject.familyId,
        pairId: subject.pairId,
        cursor: 0,
        ready: false,
        alive: true,
        closing: false,
        replay: null,
        frameTokens: CLIENT_FRAME_BURST,
        refilledAt: clock.now().getTime(),
        inbox: new Promise<void>((resolve) => {
          helloSent = resolve;
        }),
      };
      channelOf(subject.pairId).connections.add(connection);
      const mine = byUser.get(subject.userId) ?? new Set();
      mine.add(connection);
      byUser.set(subject.userId, mine);
      socket.on("message", (data: Buffer, isBinary: boolean) => onMessage(connection, data, isBinary));
      socket.on("pong", () => {
        connection.alive = true;
      });
      socket.on("close", () => remove(connection));
      socket.on("error", (error) => logger.debug({ err: error }, "stream socket error"));
      try {
        const lastSeq = (await events.heads([subject.pairId])).get(subject.pairId) ?? 0;
        if (connection.closing || socket.readyState !== socket.OPEN) return;
        send(connection, { type: "hello", userId: subject.userId, pairId: subject.pairId, lastSeq });
        connection.cursor = subject.after ?? lastSeq;
        if (subject.after !== undefined) connection.replay = { start: subject.after, pending: null };
        connection.ready = true;
        const pumped = pump(subject.pairId);
        // Frames that came before `hello` are answered now, while the replay (if any) runs.
        helloSent();
        await pumped;
      } catch (error) {
        logger.warn({ err: error }, "stream could not start");
        close(connection, closeCodes.internal, "could not start; reconnect");
      } finally {
        helloSent();
      }
    },

    /**
     * A notification: the pair's chain reached `seq`. Pumped unless every
     * socket here already has it (events this instance committed were
     * usually handed over by `committed` already).
     */
    wake(pairId: string, seq?: number): void {
      const channel = channels.get(pairId);
      if (!channel) return;
      if (seq !== undefined && !channel.pumping && readyIn(channel).every((c) => c.cursor >= seq)) return;
      void pump(pairId);
    },

    /**
     * An event this instance has just committed. When it is the next one for
     * every socket of its pair here, it is sent at once, without reading it
     * back; in any other case (a gap, a pump running) the pump reads the log,
     * so order and exactly-once stay the database's.
     */
    committed(event: PairEvent): void {
      const channel = channels.get(event.pairId);
      if (!channel) return;
      const ready = readyIn(channel);
      if (ready.every((c) => c.cursor >= event.seq)) return;
      if (!channel.pumping && ready.every((c) => c.cursor >= event.seq - 1)) {
        stats.handedOver++;
        deliver(ready, event);
      } else void pump(event.pairId);
    },

    /** After a lost listener, or on a timer: every local pair whose head moved past a socket is pumped. */
    async catchUp(): Promise<void> {
      const pairIds = [...channels.keys()];
      if (pairIds.length === 0) return;
      const heads = await events.heads(pairIds);
      for (const pairId of pairIds) {
        const channel = channels.get(pairId);
        const behind = channel && [...channel.connections].some((c) => c.ready && c.cursor < (heads.get(pairId) ?? 0));
        if (behind) void pump(pairId);
      }
    },

    /** Logout, password change or deletion: those logins' sockets close (all of the user's with "all"). */
    endLogins(userId: string, familyIds: string[] | "all"): void {
      for (const connection of byUser.get(userId) ?? []) {
        if (familyIds === "all" || familyIds.includes(connection.familyId)) {
          close(connection, closeCodes.signedOut, "signed out");
        }
      }
    },

    /** Shutdown: every socket is told the server is going away (1001), so clients reconnect elsewhere. */
    closeAll(): void {
      clearInterval(heartbeat);
      for (const channel of channels.values()) {
        for (const connection of channel.connections) close(connection, closeCodes.goingAway, "server shutting down");
      }
    },
  };
}

export type Hub = ReturnType<typeof createHub>;
