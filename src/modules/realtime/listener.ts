import pg from "pg";
import type { Logger } from "pino";

export const SESSIONS_CHANNEL = "kept_sessions";

export type ListenerOptions = {
  connectionString: string;
  channels: Record<string, (payload: string) => void>;
  /** Called after every (re)connection, so the hub can catch up on what it missed. */
  onConnected: () => void;
  logger: Logger;
  healthCheckMs: number;
  maxBackoffMs?: number;
};

/**
 * The instance's one dedicated LISTEN connection, outside the pool. When
 * it drops (a database restart, a killed backend) it reconnects with
 * backoff; a periodic query notices a connection that died silently.
 */
export function createListener(options: ListenerOptions) {
  const { logger } = options;
  const maxBackoff = options.maxBackoffMs ?? 5_000;
  let client: pg.Client | undefined;
  let stopped = false;
  let backoff = 50;
  let retry: NodeJS.Timeout | undefined;
  let health: NodeJS.Timeout | undefined;

  function scheduleReconnect(reason: unknown): void {
    if (stopped || retry) return;
    logger.warn({ err: reason, retryInMs: backoff }, "stream listener lost; reconnecting");
    const dead = client;
    client = undefined;
    dead?.removeAllListeners();
    dead?.on("error", () => {});
    void dead?.end().catch(() => {});
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, backoff);
    retry.unref();
    backoff = Math.min(backoff * 2, maxBackoff);
  }

  async function connect(): Promise<void> {
    if (stopped) return;
    const next = new pg.Client({
      connectionString: options.connectionString,
      application_name: "kept-listener",
      connectionTimeoutMillis: 5_000,
    });
    next.on("error", (error) => scheduleReconnect(error));
    next.on("end", () => scheduleReconnect(new Error("connection ended")));
    next.on("notification", (message) => {
      const handler = options.channels[message.channel];
      if (handler && message.payload) handler(message.payload);
    });
    try {
      await next.connect();
      for (const channel of Object.keys(options.channels)) await next.query(`LISTEN ${next.escapeIdentifier(channel)}`);
      if (stopped) {
        await next.end();
        return;
      }
      client = next;
      backoff = 50;
      options.onConnected();
    } catch (error) {
      next.removeAllListeners();
      next.on("error", () => {});
      void next.end().catch(() => {});
      scheduleReconnect(error);
    }
  }

  return {
    /** Whether the LISTEN connection is up (notifications are being heard). */
    connected: (): boolean => client !== undefined,
    async start(): Promise<void> {
      await connect();
      health = setInterval(() => {
        const current = client;
        if (!current) return;
        current.query("SELECT 1").catch((error: unknown) => scheduleReconnect(error));
      }, options.healthCheckMs);
      health.unref();
    },
    async stop(): Promise<void> {
      stopped = true;
      if (retry) clearTimeout(retry);
      if (health) clearInterval(health);
      const current = client;
      client = undefined;
      current?.removeAllListeners();
      current?.on("error", () => {});
      await current?.end().catch(() => {});
    },
  };
}
