import { sql } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { Clock } from "../../clock.js";
import type { Db } from "../../db/client.js";
import type { SweepTask } from "../../sweep.js";
import type { AuthService } from "../auth/index.js";
import { EVENTS_CHANNEL, type HistoryService } from "../history/index.js";
import { keptModule } from "../module.js";
import { createHub, type Hub, type RequestBudget } from "./hub.js";
import { createListener, SESSIONS_CHANNEL } from "./listener.js";
import { realtimeRoutes } from "./realtime.routes.js";
import { createTicketsService } from "./tickets.service.js";

export { CLIENT_FRAME_BURST, CLIENT_FRAMES_PER_SECOND, type RequestBudget } from "./hub.js";
export { closeCodes } from "./realtime.schemas.js";

declare module "fastify" {
  interface FastifyInstance {
    /** Counters of this instance's hub (deliveries, slow consumers closed), for tests and metrics. */
    realtimeStats: () => Hub["stats"];
  }
}

export type RealtimeModuleOptions = {
  db: Db;
  clock: Clock;
  logger: Logger;
  connectionString: string;
  history: Pick<HistoryService, "list" | "heads" | "onCommitted">;
  auth: Pick<AuthService, "authenticate" | "loginIsLive" | "forgetLogins" | "forgetAllLogins">;
  activePairOf: (userId: string) => Promise<string | null>;
  /** Each `resume` counts against the person's request budget (the per-account rate limit). */
  requestBudget: RequestBudget;
  corsOrigins: string[];
  maxStreamsPerUser: number;
  maxBufferedBytes: number;
  heartbeatMs: number;
  catchUpMs: number;
};

/**
 * The live stream: tickets, the hub that delivers events to sockets, and
 * the LISTEN connection that wakes it when any instance commits an event.
 */
export function createRealtimeModule(options: RealtimeModuleOptions) {
  const { db, logger } = options;
  const hub = createHub({
    events: options.history,
    logger,
    clock: options.clock,
    requestBudget: options.requestBudget,
    maxBufferedBytes: options.maxBufferedBytes,
    heartbeatMs: options.heartbeatMs,
  });
  // Events committed here go straight to local sockets; the NOTIFY serves the other instances.
  options.history.onCommitted((event) => hub.committed(event));
  const tickets = createTicketsService({ db, clock: options.clock, activePairOf: options.activePairOf });
  const catchUp = () => hub.catchUp().catch((error: unknown) => logger.warn({ err: error }, "stream catch-up failed"));
  const listener = createListener({
    connectionString: options.connectionString,
    logger,
    healthCheckMs: options.catchUpMs,
    channels: {
      [EVENTS_CHANNEL]: (payload) => {
        const { pairId, seq } = JSON.parse(payload) as { pairId: string; seq?: number };
        hub.wake(pairId, seq);
      },
      [SESSIONS_CHANNEL]: (payload) => {
        const { userId, familyIds } = JSON.parse(payload) as { userId: string; familyIds: string[] | "all" };
        options.auth.forgetLogins(userId, familyIds);
        hub.endLogins(userId, familyIds);
      },
    },
    // Whatever was committed while the listener was away is read from the table,
    // and logins it may have heard end are asked about again.
    onConnected: () => {
      options.auth.forgetAllLogins();
      void catchUp();
    },
  });
  // Belt and braces: a notification lost in transit is caught up within this period.
  let catchUpTimer: NodeJS.Timeout | undefined;

  const plugin = async (app: FastifyInstance) => {
    await app.register(realtimeRoutes, {
      hub,
      tickets,
      auth: options.auth,
      activePairOf: options.activePairOf,
      requestBudget: options.requestBudget,
      corsOrigins: options.corsOrigins,
      maxStreamsPerUser: options.maxStreamsPerUser,
    });
    app.addHook("onReady", async () => {
      await listener.start();
      catchUpTimer = setInterval(catchUp, options.catchUpMs);
      catchUpTimer.unref();
    });
    app.addHook("preClose", async () => {
      if (catchUpTimer) clearInterval(catchUpTimer);
      hub.closeAll();
      await listener.stop();
    });
  };

  const sweepTasks: SweepTask[] = [{ name: "streamTickets", run: (now) => tickets.prune(now) }];

  return keptModule({
    name: "realtime",
    hub,
    plugin,
    sweepTasks,
    /** Whether this instance hears other instances' broadcasts right now. */
    hearsBroadcasts: () => listener.connected(),
    /**
     * Tells every instance (through PostgreSQL) that these logins ended, so
     * their sockets close wherever they are.
     */
    async endLogins(userId: string, familyIds: string[] | "all"): Promise<void> {
      try {
        await db.execute(sql`SELECT pg_notify(${SESSIONS_CHANNEL}, ${JSON.stringify({ userId, familyIds })})`);
      } catch (error) {
        // The database is away: at least this instance closes them.
        logger.warn({ err: error }, "could not broadcast ended logins");
        hub.endLogins(userId, familyIds);
      }
    },
  });
}
