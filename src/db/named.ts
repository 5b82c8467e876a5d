import type { SQL } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import type { Executor } from "./client.js";

const dialect = new PgDialect();

/**
 * Runs `query` as a named statement, so each connection parses and plans
 * it once rather than at every call. Its text must be the same at every
 * call under that name (values go in parameters), as PostgreSQL requires.
 */
export async function executeNamed<R>(executor: Executor, name: string, query: SQL): Promise<R[]> {
  const prepared = executor._.session.prepareQuery(dialect.sqlToQuery(query), undefined, name, false);
  const result = (await prepared.execute()) as { rows: R[] };
  return result.rows;
}
