import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { HOUR } from "../helpers/clock.js";
import { createCommitment, step } from "../helpers/commitments.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { linkPair } from "../helpers/pairs.js";
import { advanceClock } from "../helpers/users.js";
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
 * Tables with a NOT NULL pair_id that are keyed by something else, and so
 * are not distributed with the pair's rows: each with why. Their primary
 * key must lack pair_id (the test holds it), and the rules on foreign keys
 * keep them from referencing a distributed table.
 */
const KEYED_OTHERWISE: Record<string, string> = {
  active_pair_members:
    "keyed by the person: at most one active pair per person is a rule across pairs by nature, held by this primary key; a reference table, so that pair_members' active rows can reference it from every shard.",
  stream_tickets:
    "keyed by the ticket's hash: GET /v1/stream?ticket= knows no pair until the ticket is read, so tickets stay on the coordinator, with no key to pairs.",
};

const TG_TRUNCATE = 32;
const TG_INSERT_UPDATE_DELETE = 4 | 8 | 16;

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

/**
 * The tables a function's statements read or write, from its text (FROM,
 * JOIN, INTO, UPDATE, TRUNCATE), and those they write (INSERT INTO, UPDATE,
 * DELETE FROM, TRUNCATE).
 */
function statementsOf(definition: string): { text: string; tables: string[]; written: string[]; truncates: boolean }[] {
  const known = new Set(tables.map((table) => table.name));
  const namesOf = (text: string, pattern: RegExp) => [...text.matchAll(pattern)].map((m) => m[1] as string);
  return codeOf(definition)
    .replace(/'(?:[^']|'')*'/g, "''")
    .split(";")
    .map((text) => {
      const named = namesOf(text, /\b(?:FROM|JOIN|INTO|UPDATE)\s+(?:ONLY\s+)?([a-z_][a-z0-9_]*)/gi);
      const written = namesOf(text, /\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(?:ONLY\s+)?([a-z_][a-z0-9_]*)/gi);
      const truncated = text.match(/\bTRUNCATE\s+(?:TABLE\s+)?([a-z0-9_,\s]+)/i);
      if (truncated) named.push(...(truncated[1] as string).split(",").map((name) => name.trim()));
      const ofSchema = (names: string[]) => [...new Set(names.filter((name) => known.has(name)))];
      return { text, tables: ofSchema(named), written: ofSchema(written), truncates: truncated !== null };
    })
    .filter((statement) => statement.tables.length > 0);
}

/** The triggers the script drops before distributing: `DROP TRIGGER <name> ON <table>;`. */
function droppedTriggersOf(script: string): { name: string; table: string }[] {
  return [...script.matchAll(/^DROP TRIGGER (\w+) ON (\w+);$/gm)].map((m) => ({
    name: m[1] as string,
    table: m[2] as string,
  }));
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

  const dropped = new Set(droppedTriggersOf(script).map((trigger) => trigger.name));
  for (const trigger of triggers.filter((candidate) => !dropped.has(candidate.name))) {
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
          const kind = placementOf(table).kind;
          // A reference table has a copy on every node: a shard may read it, never write it.
          if (kind === "reference" && !statement.written.includes(table)) continue;
          if (kind !== "distributed") found.push(`${named}: ${f.name} touches ${table}`);
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
      .filter((table) => (table.pairIdNotNull && !(table.name in KEYED_OTHERWISE)) || table.name === "pairs")
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

  it("keeps a table with a pair_id off the shards only when it is keyed by something else", () => {
    for (const name of Object.keys(KEYED_OTHERWISE)) {
      const table = tables.find((candidate) => candidate.name === name);
      expect(table?.pairIdNotNull, `${name} still has a NOT NULL pair_id`).toBe(true);
      expect(placementOf(name).kind, name).not.toBe("distributed");
      const key = uniqueIndexes.find((index) => index.table === name && index.primary);
      expect(key?.columns, `${name}'s primary key`).not.toContain("pair_id");
    }
  });

  it("drops only triggers that fire on TRUNCATE alone (never on a request path)", () => {
    const dropped = droppedTriggersOf(script);
    expect(dropped.map((trigger) => trigger.name)).toEqual(["commitment_figures_truncate"]);
    for (const { name, table } of dropped) {
      const trigger = triggers.find((candidate) => candidate.name === name);
      expect(trigger?.table, name).toBe(table);
      expect((trigger?.type ?? 0) & TG_TRUNCATE, `${name} fires on TRUNCATE`).toBe(TG_TRUNCATE);
      expect((trigger?.type ?? 0) & TG_INSERT_UPDATE_DELETE, `${name} fires on nothing else`).toBe(0);
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
  it("keeps the rules of 'Scaling past one machine'", () => {
    expect(violations()).toEqual([]);
  });

  it("would notice a new unique index without pair_id, a trigger statement across pairs, or one writing a reference table", () => {
    uniqueIndexes.push({ table: "boundaries", name: "probe", primary: false, columns: ["id"] });
    const readAll = {
      name: "probe_function",
      definition: `AS $function$ BEGIN
        UPDATE boundaries SET status = status;
        PERFORM 1 FROM users WHERE id = NEW.proposed_by;
        UPDATE users SET version = version WHERE id = NEW.proposed_by;
      END; $function$`,
    };
    functions.push(readAll);
    triggers.push({ ...(triggers[0] as TriggerDef), name: "probe", table: "boundaries", function: "probe_function" });
    try {
      const found = violations().filter((violation) => violation.includes("probe"));
      expect(found).toEqual([
        "boundaries: unique index probe (id) lacks pair_id",
        "trigger probe (probe_function): probe_function has a statement on boundaries not keyed by pair_id",
        "trigger probe (probe_function): probe_function touches users",
      ]);
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
      // Its texts first: they reference the commitment.
      await client.query("DELETE FROM commitment_texts WHERE pair_id = $1 AND commitment_id = $2", [
        changed.pairId,
        kept,
      ]);
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

describe("statements by id", () => {
  const TABLES = ["series", "commitment_requests", "commitments"] as const;

  /** The pair's rows with their tuple versions: a write or a row lock changes xmin or xmax. */
  async function rowsOf(client: pg.Client, pairId: string): Promise<Record<string, string[]>> {
    const rows: Record<string, string[]> = {};
    for (const table of TABLES) {
      const result = await client.query<{ row: string }>(
        `SELECT xmin::text || ' ' || xmax::text || ' ' || row_to_json(r)::text AS row
         FROM ${table} r WHERE pair_id = $1 ORDER BY id`,
        [pairId],
      );
      rows[table] = result.rows.map((r) => r.row);
    }
    return rows;
  }

  it("never find a commitment, series or request by its id alone: a twin in another pair is neither written nor locked", async () => {
    const { pairId, inviter: owner, joiner: partner } = await linkPair(t);
    const hoursAhead = (hours: number) => new Date(t.clock.now().getTime() + hours * HOUR).toISOString();
    const post = (path: string, as: typeof owner, body?: object) =>
      t.http
        .post(`/v1/pairs/${pairId}/${path}`)
        .set(as.auth)
        .send(body ?? {});
    // One of each kind of change: steps, a reschedule, series ended and extended, requests answered, sweeps.
    const confirmed = await createCommitment(t, pairId, owner, { dueAt: hoursAhead(2) });
    const lapsing = await createCommitment(t, pairId, owner, { dueAt: hoursAhead(1), graceMinutes: 0 });
    const autoConfirmed = await createCommitment(t, pairId, owner, { dueAt: hoursAhead(3) });
    const rescheduled = await createCommitment(t, pairId, owner, { dueAt: hoursAhead(1) });
    const daily = { rrule: "FREQ=DAILY", timeZone: "UTC" };
    const ended = await createCommitment(t, pairId, owner, { dueAt: hoursAhead(24), recurrence: daily });
    const extended = await createCommitment(t, pairId, owner, { dueAt: hoursAhead(25), recurrence: daily });
    const ask = async (hours: number) =>
      (await post("requests", partner, { title: "Call me", dueAt: hoursAhead(hours) }).expect(201)).body.id as string;
    const [accepted, declined, expiring] = [await ask(5), await ask(5), await ask(1)];

    // The twins: every row again, with the same ids, in a pair that has ended (so no sweep works on it).
    const other = await linkPair(t);
    await t.http.post(`/v1/pairs/${other.pairId}/leave`).set(other.inviter.auth).expect(200);
    const client = new pg.Client({ connectionString: t.databaseUrl });
    await client.connect();
    try {
      for (const table of TABLES) {
        await client.query(
          `INSERT INTO ${table}
           SELECT (jsonb_populate_record(r, jsonb_build_object('pair_id', $2::uuid))).* FROM ${table} r
           WHERE r.pair_id = $1`,
          [pairId, other.pairId],
        );
      }
      const twins = await rowsOf(client, other.pairId);
      expect(twins.commitments?.length).toBeGreaterThan(6);

      await post(`commitments/${confirmed.id}/report`, owner, { outcome: "kept" }).expect(200);
      await post(`commitments/${confirmed.id}/confirm`, partner).expect(200);
      await post(`commitments/${autoConfirmed.id}/report`, owner, { outcome: "kept" }).expect(200);
      await post(`commitments/${rescheduled.id}/reschedule`, owner, { dueAt: hoursAhead(6) }).expect(200);
      const series = (await t.http.get(`/v1/pairs/${pairId}/commitments/${ended.id}`).set(owner.auth)).body.seriesId;
      await t.http.delete(`/v1/pairs/${pairId}/series/${series}`).set(owner.auth).send().expect(200);
      await post(`requests/${accepted}/accept`, owner).expect(200);
      await post(`requests/${declined}/decline`, owner, {}).expect(200);
      await advanceClock(t, 73 * HOUR, owner, partner);
      await t.app.sweeper.runOnce();

      const statusOf = async (path: string) =>
        (await t.http.get(`/v1/pairs/${pairId}/${path}`).set(owner.auth).expect(200)).body.status;
      expect(await statusOf(`commitments/${lapsing.id}`)).toBe("lapsed");
      expect(await statusOf(`commitments/${autoConfirmed.id}`)).toBe("confirmed");
      expect(
        (await t.http.get(`/v1/pairs/${pairId}/commitments/${rescheduled.id}`).set(owner.auth)).body.pendingReschedule,
      ).toBeNull();
      expect(await statusOf(`requests/${expiring}`)).toBe("expired");
      const extendedSeries = (await t.http.get(`/v1/pairs/${pairId}/commitments/${extended.id}`).set(owner.auth)).body
        .seriesId;
      const horizon = (await t.http.get(`/v1/pairs/${pairId}/series/${extendedSeries}`).set(owner.auth)).body
        .generatedUntil;
      expect(new Date(horizon).getTime()).toBeGreaterThan(t.clock.now().getTime());

      expect(await rowsOf(client, other.pairId)).toEqual(twins);
    } finally {
      await client.end();
    }
  });
});

describe("one active pair per person", () => {
  it("is held by the database, however a membership is written", async () => {
    const { pairId, joiner } = await linkPair(t);
    const stranger = await linkPair(t);
    const client = new pg.Client({ connectionString: t.databaseUrl });
    await client.connect();
    const codeOf = (query: Promise<unknown>) =>
      query.then(
        () => "ok",
        (error: { code: string }) => error.code,
      );
    try {
      const { rows } = await client.query("SELECT pair_id FROM active_pair_members WHERE user_id = $1", [joiner.id]);
      expect(rows).toEqual([{ pair_id: pairId }]);
      const [fresh] = (
        await client.query<{ id: string }>(
          "INSERT INTO pairs (id, status, created_at) VALUES (gen_random_uuid(), 'active', now()) RETURNING id",
        )
      ).rows;
      const membership = "INSERT INTO pair_members (pair_id, user_id, joined_at, active) VALUES ($1, $2, now(), $3)";
      // A second active pair, by either table.
      expect(await codeOf(client.query(membership, [fresh?.id, joiner.id, true]))).toBe("23505");
      expect(
        await codeOf(
          client.query("INSERT INTO active_pair_members (user_id, pair_id) VALUES ($1, $2)", [joiner.id, fresh?.id]),
        ),
      ).toBe("23505");
      // An active membership without its person's row; a released row while the membership is active.
      const [newcomer] = (
        await client.query<{ id: string }>(
          "INSERT INTO users (id, time_zone, created_at, updated_at) VALUES (gen_random_uuid(), 'UTC', now(), now()) RETURNING id",
        )
      ).rows;
      expect(await codeOf(client.query(membership, [fresh?.id, newcomer?.id, true]))).toBe("23503");
      expect(
        await codeOf(client.query("DELETE FROM active_pair_members WHERE user_id = $1", [stranger.joiner.id])),
      ).toBe("23503");
      // A past membership needs no row.
      expect(await codeOf(client.query(membership, [fresh?.id, joiner.id, false]))).toBe("ok");
    } finally {
      await client.end();
    }
    // Leaving releases both members: each may pair again.
    await t.http.post(`/v1/pairs/${pairId}/leave`).set(joiner.auth).expect(200);
    const again = await linkPair(t, undefined, joiner);
    expect((await t.http.get("/v1/me").set(joiner.auth).expect(200)).body.activePairId).toBe(again.pairId);
  });
});
