import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

/** `src/db/sql/`: the current text of every hand-written function and trigger, one file each. */
export const sqlFolder = fileURLToPath(new URL("../../src/db/sql/", import.meta.url));

/** Runs `work` on a connection of its own whose names resolve as the migrations wrote them. */
export async function withCatalog<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // pg_get_functiondef and pg_get_triggerdef qualify what the search path does not show.
    await client.query("SET search_path TO public");
    return await work(client);
  } finally {
    await client.end();
  }
}

export type FunctionDef = { name: string; definition: string };
export type TriggerDef = {
  name: string;
  table: string;
  function: string;
  definition: string;
  /** pg_trigger.tgtype: 1 row, 2 before, 4 insert, 8 delete, 16 update, 32 truncate. */
  type: number;
  /** The `UPDATE OF` columns (attribute numbers), empty when there is none. */
  columns: string;
};

/** Every function and procedure of the schema (not an extension's), as PostgreSQL prints it. */
export async function functionsOf(client: pg.Client): Promise<FunctionDef[]> {
  const { rows } = await client.query<FunctionDef>(`
    SELECT p.proname AS name, pg_get_functiondef(p.oid) AS definition
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p')
      AND NOT EXISTS (
        SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
      )
    ORDER BY p.proname`);
  return rows;
}

/** Every trigger of the schema's tables that someone wrote (not a foreign key's internal ones). */
export async function triggersOf(client: pg.Client): Promise<TriggerDef[]> {
  const { rows } = await client.query<TriggerDef>(`
    SELECT t.tgname AS name, c.relname AS table, p.proname AS function, pg_get_triggerdef(t.oid) AS definition,
           t.tgtype::int AS type, t.tgattr::text AS columns
    FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_proc p ON p.oid = t.tgfoid
    WHERE n.nspname = 'public' AND NOT t.tgisinternal
    ORDER BY t.tgname`);
  return rows;
}

/** The files of `src/db/sql/` by object name: the statement after the leading comment, without its `;`. */
export async function sqlFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of (await readdir(sqlFolder)).sort()) {
    if (!entry.endsWith(".sql")) continue;
    const text = await readFile(path.join(sqlFolder, entry), "utf8");
    const lines = text.split("\n");
    const first = lines.findIndex((line) => line.trim() !== "" && !line.startsWith("--"));
    const statement = lines.slice(first).join("\n").trimEnd();
    files.set(entry.slice(0, -".sql".length), statement.endsWith(";") ? statement.slice(0, -1) : statement);
  }
  return files;
}

function bodyOf(definition: string): string {
  const quote = "$function$";
  return definition.slice(definition.indexOf(quote) + quote.length, definition.lastIndexOf(quote));
}

/** A function's body (between its dollar quotes), without comments or string literals: the names it uses. */
export function namesIn(definition: string): Set<string> {
  const body = bodyOf(definition);
  const code = body.replace(/--[^\n]*/g, " ").replace(/'(?:[^']|'')*'/g, " ");
  return new Set(code.match(/[a-z_][a-z0-9_]*/gi)?.map((name) => name.toLowerCase()) ?? []);
}

/** A function's body without comments, whitespace collapsed (for reading one statement of it). */
export function codeOf(definition: string): string {
  const body = bodyOf(definition);
  return body.replace(/--[^\n]*/g, " ").replace(/\s+/g, " ");
}

/** The functions `start` calls, and those they call, by name (itself excluded). */
export function reachableFrom(start: string, functions: FunctionDef[]): FunctionDef[] {
  const byName = new Map(functions.map((f) => [f.name, f]));
  const seen = new Set([start]);
  const queue = [start];
  while (queue.length > 0) {
    const current = byName.get(queue.shift() as string);
    if (!current) continue;
    for (const name of namesIn(current.definition)) {
      if (byName.has(name) && !seen.has(name)) {
        seen.add(name);
        queue.push(name);
      }
    }
  }
  seen.delete(start);
  return [...seen].map((name) => byName.get(name) as FunctionDef);
}
