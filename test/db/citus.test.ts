import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { HOUR } from "../helpers/clock.js";
import { createCommitment, step } from "../helpers/commitments.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { linkPair } from "../helpers/pairs.js";
import {
  codeOf,
  type FunctionDef,
  functionsOf,
  reachableFrom,
  type TriggerDef,
  triggersOf,
  withCatalog,
} from "./catalog.js";

/**
 * shared/DESIGN.md "Scaling past one machine", held over the live schema
 * (built by the migrations) and the distribution script
 * `src/db/citus/distribute.sql`: what a Citus cluster would refuse, found
 * here on plain PostgreSQL. The script's header says what only a real
 * cluster can prove.
 */

const scriptPath = fileURLToPath(new URL("../../src/db/citus/distribute.sql", import.meta.url));

/**
 * Where the schema breaks a rule today, each with why and what removes it.
 * The test fails when one is fixed (remove it here and from the script's
 * header) or a new one appears (fix it, or argue it in here).
 */
const KNOWN_EXCEPTIONS: { violation: string; why: string }[] = [
  {
    violation: "commitments: primary key commitments_pkey (id) lacks pair_id",
    why: "ids are UUIDv7, unique on their own. The fix: a migration to (pair_id, id), and the few statements by id alone (a commitment's save) naming the pair too. Rebuilding the key of the largest table under an exclusive lock is a planned migration, not a drive-by.",
  },
  {
    violation: "series: primary key series_pkey (id) lacks pair_id",
    why: "as commitments: (pair_id, id), with the statements by id alone (extending, ending, the sweep's claim) naming the pair.",
  },
  {
    violation: "commitment_requests: primary key commitment_requests_pkey (id) lacks pair_id",
    why: "as commitments: (pair_id, id), with the statements by id alone (a request's save, the expiry sweep's claim) naming the pair.",
  },
  {
    violation:
      "commitments: foreign key commitments_series_id_series_id_fk (series_id) -> series (id) is not on pair_id",
    why: "follows series' key: (pair_id, series_id) -> series (pair_id, id) once series is keyed by pair.",
  },
  {
    violation: "pair_members: unique index pair_members_one_active_pair (user_id) lacks pair_id",
    why: "at most one active pair per person is a rule across pairs by nature; on Citus it moves to a table keyed by person (reference or coordinator), written in the transaction that forms or ends the pair.",
  },
  {
    violation: "stream_tickets: primary key stream_tickets_pkey (ticket_hash) lacks pair_id",
    why: "GET /v1/stream?ticket= knows no pair: the ticket must carry its pair (key (pair_id, ticket_hash)), or tickets stay on the coordinator without their key to pairs.",
  },
  {
    violation:
      "invites: foreign key invites_pair_id_pairs_id_fk (pair_id) -> pairs (id) runs from local to distributed",
    why: "an invite exists before its pair, so it stays on the coordinator, which cannot reference a distributed table: drop the key (the pair's id stays a plain column).",
  },
  {
    violation: "trigger commitment_figures_truncate (commitment_figures_clear): TRUNCATE spans every pair",
    why: "TRUNCATE commitments empties every pair's figures with it; never on a request path. On Citus the read model is truncated beside it instead, and this trigger dropped.",
  },
];

type Placement = { kind: "distributed"; column: string; colocateWith: string | null } | { kind: "reference" | "local" };

/** What the script does with each table. */
function placementsOf(script: string): Map<string, Placement[]> {
  const placements = new Map<string, Placement[]>();
  const add = (table: string, placement: Placement) =>
    placements.set(table, [...(placements.get(table) ?? []), placement]);
  for (const m of script.matchAll(
    /^SELECT create_distributed_table\('(\w+)', '(\w+)'(?:, colocate_with => '(\w+)')?\);$/gm,
  )) {
    add(m[1] as string, { kind: "distributed", column: m[2] as string, colocateWith: m[3] ?? null });
  }
  for (const m of script.matchAll(/^SELECT create_reference_table\('(\w+)'\);$/gm)) {
    add(m[1] as string, { kind: "reference" });
  }
  for (const m of script.matchAll(/^--\s+local: (.+)$/gm)) {
    for (const table of (m[1] as string).split(",")) add(table.trim(), { kind: "local" });
  }
  return placements;
}

type Table = { name: string; pairIdNotNull: boolean };
type UniqueIndex = { table: string; name: string; primary: boolean; columns: string[] };
type ForeignKey = { name: string; table: string; columns: string[]; target: string; targetColumns: string[] };

let script: string;
let tables: Table[];
let uniqueIndexes: UniqueIndex[];
let foreignKeys: ForeignKey[];
let triggers: TriggerDef[];
let functions: FunctionDef[];
let sequences: string[];
let t: TestApp;

beforeAll(async () => {
  script = await readFile(scriptPath, "utf8");
  t = await buildTestApp({ passwordHasher: fastHasher });
  await withCatalog(t.databaseUrl, async (client) => {
    tables = (
      await client.query<Table>(`
        SELECT c.relname AS name,
               coalesce((SELECT a.attnotnull FROM pg_attribute a
                         WHERE a.attrelid = c.oid AND a.attname = 'pair_id' AND NOT a.attisdropped), false)
                 AS "pairIdNotNull"
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
        ORDER BY 1`)
    ).rows;
    // Primary keys and unique constraints are unique indexes too; an expression shows as "(expression)".
    uniqueIndexes = (
      await client.query<UniqueIndex>(`
        SELECT c.relname AS table, ic.relname AS name, i.indisprimary AS primary,
               array(SELECT coalesce(a.attname::text, '(expression)')
                     FROM unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY AS k(attnum, position)
                     LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                     ORDER BY k.position) AS columns
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND i.indisunique
        ORDER BY 1, 2`)
    ).rows;
    foreignKeys = (
      await client.query<ForeignKey>(`
        SELECT con.conname AS name, src.relname AS table, dst.relname AS target,
               array(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, position)
                     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                     ORDER BY k.position) AS columns,
               array(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, position)
                     JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
                     ORDER BY k.position) AS "targetColumns"
        FROM pg_constraint con
        JOIN pg_class src ON src.oid = con.conrelid
        JOIN pg_class dst ON dst.oid = con.confrelid
        JOIN pg_namespace n ON n.oid = src.relnamespace
        WHERE n.nspname = 'public' AND con.contype = 'f'
        ORDER BY 1`)
    ).rows;
    triggers = await triggersOf(client);
    functions = await functionsOf(client);
    sequences = (
      await client.query<{ name: string }>(`
        SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'S'
        UNION ALL
        SELECT c.relname || '.' || a.attname FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND a.attidentity <> '' AND NOT a.attisdropped`)
    ).rows.map((row) => row.name);
  });
});
afterAll(() => t.close());

function placementOf(table: string): Placement {
  const found = placementsOf(script).get(table)?.[0];
  if (!found) throw new Error(`${table} is not in src/db/citus/distribute.sql`);
  return found;
}

/** The tables a function's statements read or write, from its text (FROM, JOIN, INTO, UPDATE, TRUNCATE). */
function statementsOf(definition: string): { text: string; tables: string[]; truncates: boolean }[] {
  const known = new Set(tables.map((table) => table.name));
  return codeOf(definition)
    .replace(/'(?:[^']|'')*'/g, "''")
    .split(";")
    .map((text) => {
      const named = [...text.matchAll(/\b(?:FROM|JOIN|INTO|UPDATE)\s+(?:ONLY\s+)?([a-z_][a-z0-9_]*)/gi)].map(
        (m) => m[1] as string,
      );
      const truncated = text.match(/\bTRUNCATE\s+(?:TABLE\s+)?([a-z0-9_,\s]+)/i);
      if (truncated) named.push(...(truncated[1] as string).split(",").map((name) => name.trim()));
      return { text, tables: [...new Set(named.filter((name) => known.has(name)))], truncates: truncated !== null };
    })
    .filter((statement) => statement.tables.length > 0);
}

/** Every way the live schema breaks the rules, in words. */
function violations(): string[] {
  const found: string[] = [];
  const distributionColumn = (table: string) => {
    const placement = placementOf(table);
    return placement.kind === "distributed" ? placement.column : null;
  };

  for (const index of uniqueIndexes) {
    const column = distributionColumn(index.table);
    if (column && !index.columns.includes(column)) {
      const what = index.primary ? "primary key" : "unique index";
      found.push(`${index.table}: ${what} ${index.name} (${index.columns.join(", ")}) lacks ${column}`);
    }
  }

  for (const key of foreignKeys) {
    const from = placementOf(key.table).kind;
    const to = placementOf(key.target).kind;
    const describe = `${key.table}: foreign key ${key.name} (${key.columns.join(", ")}) -> ${key.target} (${key.targetColumns.join(", ")})`;
    if (from === "distributed" && to === "distributed") {
      const at = key.columns.indexOf(distributionColumn(key.table) as string);
      if (at < 0 || key.targetColumns[at] !== distributionColumn(key.target)) {
        found.push(`${describe} is not on pair_id`);
      }
    } else if (to !== "reference" && !(from === "local" && to === "local")) {
      found.push(`${describe} runs from ${from} to ${to}`);
    }
  }

  for (const trigger of triggers) {
    const named = `trigger ${trigger.name} (${trigger.function})`;
    if (placementOf(trigger.table).kind !== "distributed") found.push(`${named}: on ${trigger.table}, not distributed`);
    const own = functions.find((f) => f.name === trigger.function);
    if (!own) throw new Error(`no function ${trigger.function}`);
    for (const f of [own, ...reachableFrom(own.name, functions)]) {
      for (const statement of statementsOf(f.definition)) {
        if (statement.truncates) {
          found.push(`${named}: TRUNCATE spans every pair`);
          continue;
        }
        for (const table of statement.tables) {
          if (placementOf(table).kind !== "distributed") found.push(`${named}: ${f.name} touches ${table}`);
          else if (!/\bpair_id\b/.test(statement.text)) {
            found.push(`${named}: ${f.name} has a statement on ${table} not keyed by pair_id`);
          }
        }
      }
    }
  }

  for (const sequence of sequences) found.push(`${sequence}: a global sequence`);
  return [...new Set(found)].sort();
}

describe("the distribution script", () => {
  it("names every table once", () => {
    const placements = placementsOf(script);
    expect([...placements.keys()].sort()).toEqual(tables.map((table) => table.name));
    for (const [table, all] of placements) expect(all, table).toHaveLength(1);
  });

  it("distributes every pair-scoped table by pair_id (pairs by id), co-located with pairs", () => {
    const pairScoped = tables
      .filter((table) => table.pairIdNotNull || table.name === "pairs")
      .map((table) => table.name);
    const distributed = [...placementsOf(script)].filter(([, [placement]]) => placement?.kind === "distributed");
    expect(distributed.map(([table]) => table).sort()).toEqual(pairScoped);
    for (const [table, [placement]] of distributed) {
      expect(placement, table).toEqual(
        table === "pairs"
          ? { kind: "distributed", column: "id", colocateWith: null }
          : { kind: "distributed", column: "pair_id", colocateWith: "pairs" },
      );
    }
  });

  it("makes reference tables of exactly the global tables that pair-scoped tables reference", () => {
    const referenced = foreignKeys
      .filter((key) => placementOf(key.table).kind === "distributed" && placementOf(key.target).kind !== "distributed")
      .map((key) => key.target);
    const reference = [...placementsOf(script)].filter(([, [placement]]) => placement?.kind === "reference");
    expect(reference.map(([table]) => table).sort()).toEqual([...new Set(referenced)].sort());
    expect(referenced).toContain("users");
  });
});

describe("the schema", () => {
  it("keeps the rules of 'Scaling past one machine', but for the known exceptions", () => {
    expect(violations()).toEqual(KNOWN_EXCEPTIONS.map((known) => known.violation).sort());
  });

  it("would notice a new unique index without pair_id, or a trigger statement across pairs", () => {
    uniqueIndexes.push({ table: "boundaries", name: "probe", primary: false, columns: ["id"] });
    const readAll = {
      name: "probe_function",
      definition: "AS $function$ BEGIN UPDATE boundaries SET status = status; END; $function$",
    };
    functions.push(readAll);
    triggers.push({ ...(triggers[0] as TriggerDef), name: "probe", table: "boundaries", function: "probe_function" });
    try {
      expect(violations()).toEqual(
        expect.arrayContaining([
          "boundaries: unique index probe (id) lacks pair_id",
          "trigger probe (probe_function): probe_function has a statement on boundaries not keyed by pair_id",
        ]),
      );
    } finally {
      uniqueIndexes.pop();
      functions.pop();
      triggers.pop();
    }
  });
});

describe("the read model's triggers", () => {
  type RowVersion = { relation: string; xmin: string; xmax: string; ctid: string; row: string };

  async function withClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: t.databaseUrl });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }

  /** The pair's rows of the read model with their tuple versions: a write or a row lock changes xmin or xmax. */
  function versionsOf(client: pg.Client, pairId: string): Promise<RowVersion[]> {
    return client
      .query<RowVersion>(
        `SELECT 'totals' AS relation, xmin::text, xmax::text, ctid::text, row_to_json(r)::text AS row
         FROM commitment_figure_totals r WHERE pair_id = $1
         UNION ALL
         SELECT 'breaks', xmin::text, xmax::text, ctid::text, row_to_json(r)::text
         FROM commitment_streak_breaks r WHERE pair_id = $1
         ORDER BY 1, 5`,
        [pairId],
      )
      .then((result) => result.rows);
  }

  /** Three settled commitments (kept, missed, kept) and an open one, through the API. */
  async function history(pair: Awaited<ReturnType<typeof linkPair>>): Promise<string[]> {
    const ids: string[] = [];
    const due = (hours: number) => new Date(t.clock.now().getTime() + hours * HOUR).toISOString();
    for (const [hours, outcome] of [
      [1, "kept"],
      [2, "missed"],
      [3, "kept"],
    ] as const) {
      const c = await createCommitment(t, pair.pairId, pair.inviter, { dueAt: due(hours), graceMinutes: 0 });
      await step(t, pair.pairId, pair.inviter, c.id, "report", { outcome }).expect(200);
      await step(t, pair.pairId, pair.joiner, c.id, "confirm").expect(200);
      ids.push(c.id);
    }
    ids.push((await createCommitment(t, pair.pairId, pair.inviter, { dueAt: due(4) })).id);
    return ids;
  }

  it("touch only the changed pair's rows: another pair's are neither written nor locked", async () => {
    const other = await linkPair(t);
    await history(other);
    const changed = await linkPair(t);
    const [kept] = await history(changed);

    await withClient(async (client) => {
      const before = await versionsOf(client, other.pairId);
      expect(before.filter((row) => row.relation === "breaks")).toHaveLength(2);

      // Every path of the trigger in the changed pair: steps (above), a statement changing
      // several commitments of one walk (a rebuild), a settled insert, a delete.
      await client.query("UPDATE commitments SET due_at = due_at + interval '1 second' WHERE pair_id = $1", [
        changed.pairId,
      ]);
      await client.query(
        `INSERT INTO commitments
         SELECT (jsonb_populate_record(c, jsonb_build_object('id', gen_random_uuid()))).*
         FROM commitments c WHERE c.id = $1`,
        [kept],
      );
      await client.query("DELETE FROM commitments WHERE id = $1", [kept]);
      const changedTotals = await client.query<{ kept: number }>(
        "SELECT kept FROM commitment_figure_totals WHERE pair_id = $1 AND scope = 'all'",
        [changed.pairId],
      );
      expect(changedTotals.rows).toEqual([{ kept: 2 }]);

      expect(await versionsOf(client, other.pairId)).toEqual(before);

      // The check sees even a write that changes no value.
      await client.query("UPDATE commitment_figure_totals SET kept = kept WHERE pair_id = $1", [other.pairId]);
      expect(await versionsOf(client, other.pairId)).not.toEqual(before);
    });
  });
});
