import type { SQL } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import type { Executor } from "./client.js";

const dialect = new PgDialect();
const texts = new Map<string, string>();

/**
 * Runs `query` as a named statement, so each connection parses and plans
 * it once rather than at every call. Its text must be the same at every
 * call under that name (values go in parameters), as PostgreSQL requires.
 * The one place that reaches into drizzle's private session API (drizzle
 * has no public way to name a hand-written statement in a transaction);
 * test/db/named.test.ts fails when that API changes.
 */
export async function executeNamed<R>(executor: Executor, name: string, query: SQL): Promise<R[]> {
  const built = dialect.sqlToQuery(query);
  // A second text under one name would fail only on connections that prepared the first: fail loudly at once.
  const known = texts.get(name);
  if (known === undefined) texts.set(name, built.sql);
  else if (known !== built.sql) throw new Error(`statement ${name} was prepared with another text`);
  const prepared = executor._.session.prepareQuery(built, undefined, name, false);
  const result = (await prepared.execute()) as { rows: R[] };
  return result.rows;
}
