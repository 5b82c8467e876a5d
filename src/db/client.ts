import { drizzle, type NodePgDatabase } from "drizzle-orm/node-postgres";
import pg from "pg";
import type { Logger } from "pino";
import { type DatabaseAvailability, trackAvailability } from "./availability.js";
import * as schema from "./schema/index.js";

export type Db = NodePgDatabase<typeof schema> & { $client: pg.Pool };
/** A transaction handle: services that write take one, so a change and its event commit together. */
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];
/** Either the pool or an open transaction, for reads that can run in both. */
export type Executor = Db | Tx;

export type DatabaseOptions = {
  url: string;
  poolSize: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  logger: Logger;
  applicationName?: string;
};

export type Database = {
  db: Db;
  url: string;
  pool: pg.Pool;
  availability: DatabaseAvailability;
  close(): Promise<void>;
};

export function connectDatabase(options: DatabaseOptions): Database {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize,
    // Waiting for a connection or a statement must end in a 503, never a hang.
    connectionTimeoutMillis: options.connectTimeoutMs,
    statement_timeout: options.statementTimeoutMs,
    query_timeout: options.statementTimeoutMs + 1_000,
    idleTimeoutMillis: 30_000,
    application_name: options.applicationName ?? "kept",
  });
  const availability = trackAvailability(options.logger);
  // An idle client losing its connection emits here; without a listener it would crash the process.
  pool.on("error", (error) => availability.failed("connections", error));
  // The pool stops listening while a client is checked out: a server restart that hits a
  // client between two statements of a transaction would then crash the process. With this
  // listener the client is only marked broken: its next query fails (→ 503) and the pool
  // drops it on release.
  pool.on("connect", (client) => {
    availability.answered();
    client.on("error", (error) => availability.failed("connections", error));
  });
  const db = drizzle(pool, { schema });
  let closed = false;
  return {
    db,
    url: options.url,
    pool,
    availability,
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
