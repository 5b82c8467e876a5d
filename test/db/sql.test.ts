import { beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/database.js";
import {
  codeOf,
  type FunctionDef,
  functionsOf,
  namesIn,
  reachableFrom,
  sqlFiles,
  type TriggerDef,
  triggersOf,
  withCatalog,
} from "./catalog.js";

/**
 * `src/db/sql/` holds the current text of every hand-written function and
 * trigger, exactly as PostgreSQL prints it. The database here is built by
 * the migrations alone, so these tests hold that the migrations install
 * exactly those texts, and that the figures' trigger watches every column
 * the figures read.
 */

let functions: FunctionDef[];
let triggers: TriggerDef[];
let files: Map<string, string>;
let commitmentColumns: Set<string>;

beforeAll(async () => {
  const url = await createTestDatabase();
  await withCatalog(url, async (client) => {
    functions = await functionsOf(client);
    triggers = await triggersOf(client);
    const { rows } = await client.query<{ name: string }>(
      `SELECT attname AS name FROM pg_attribute WHERE attrelid = 'commitments'::regclass AND attnum > 0 AND NOT attisdropped`,
    );
    commitmentColumns = new Set(rows.map((row) => row.name));
  });
  files = await sqlFiles();
});

const TG_ROW = 1;
const TG_BEFORE = 2;
const TG_INSERT = 4;
const TG_DELETE = 8;
const TG_UPDATE = 16;
const TG_TRUNCATE = 32;

function definitionOf(name: string): string {
  const found = functions.find((f) => f.name === name);
  if (!found) throw new Error(`no function ${name} in the database`);
  return found.definition;
}

/** The commitments columns that the functions the trigger reaches name: what the figures read. */
function figureColumns(): string[] {
  const read = new Set<string>();
  for (const f of reachableFrom("commitment_figures_maintain", functions)) {
    for (const name of namesIn(f.definition)) if (commitmentColumns.has(name)) read.add(name);
  }
  return [...read].sort();
}

/** The columns an update's old and new rows are compared on; nothing else starts the figures' work. */
function watchedColumns(maintain: string): string[] {
  const compared = codeOf(maintain).match(
    /SELECT ((?:(?!SELECT).)+?) FROM new_rows EXCEPT ALL SELECT ((?:(?!SELECT).)+?) FROM old_rows/i,
  );
  if (!compared) throw new Error("commitment_figures_maintain no longer compares new_rows EXCEPT ALL old_rows");
  const [, fromNew, fromOld] = compared as unknown as [string, string, string];
  expect(fromNew, "both sides of the comparison name the same columns").toBe(fromOld);
  const named = fromNew.match(/[a-z_][a-z0-9_]*/gi) ?? [];
  return [...new Set(named.filter((name) => commitmentColumns.has(name)))].sort();
}

/** The columns an insert's fast path (a new row that only adds to `open`) looks at. */
function fastPathColumns(maintain: string): string[] {
  const condition = codeOf(maintain).match(/IF NOT EXISTS \( SELECT 1 FROM new_rows n WHERE (.+?) \) THEN/i);
  if (!condition) throw new Error("commitment_figures_maintain no longer has its insert fast path where expected");
  const named = [...(condition[1] as string).matchAll(/\bn\.([a-z_][a-z0-9_]*)/gi)].map((m) => m[1] as string);
  return [...new Set(named)].sort();
}

/**
 * Where a commitment counts (its pair, owner, scopes, place in a walk), not
 * what it counts as: a new open row adds to `open` wherever it is, so the
 * fast path need not look at these.
 */
const PLACEMENT = ["category", "due_at", "id", "owner_id", "pair_id"];

describe("src/db/sql", () => {
  it("has one file for every function and trigger in the database, and none for anything else", () => {
    const inDatabase = [...functions.map((f) => f.name), ...triggers.map((t) => t.name)].sort();
    expect(new Set(inDatabase).size, "a function and a trigger share a name").toBe(inDatabase.length);
    expect([...files.keys()].sort()).toEqual(inDatabase);
  });

  it("holds exactly what the database holds (pg_get_functiondef, pg_get_triggerdef)", () => {
    for (const { name, definition } of [...functions, ...triggers]) {
      expect(files.get(name), `src/db/sql/${name}.sql (the database's text is the expected one)`).toBe(
        definition.trimEnd(),
      );
    }
  });
});

describe("the figures' read model", () => {
  it("is kept by one function on every insert, update and delete of commitments, a statement at a time", () => {
    const onCommitments = triggers.filter((t) => t.table === "commitments");
    const kept = onCommitments.filter((t) => t.function === "commitment_figures_maintain");
    const events = kept.reduce((all, t) => all | t.type, 0);
    expect(events & (TG_INSERT | TG_UPDATE | TG_DELETE)).toBe(TG_INSERT | TG_UPDATE | TG_DELETE);
    for (const t of kept) {
      expect(t.type & (TG_ROW | TG_BEFORE), `${t.name} runs after each statement`).toBe(0);
      expect(t.columns, `${t.name} has no UPDATE OF list: the function compares columns itself`).toBe("");
    }
    const truncate = onCommitments.filter((t) => t.type & TG_TRUNCATE);
    expect(truncate.map((t) => t.function)).toEqual(["commitment_figures_clear"]);
  });

  it("reads the commitments columns it is known to read", () => {
    // A guard on the derivation below: if this list is wrong, so is the comparison.
    expect(figureColumns()).toEqual([
      "acknowledged_at",
      "acknowledgement_accepted_at",
      "category",
      "due_at",
      "id",
      "lapsed_at",
      "outcome",
      "owner_id",
      "pair_id",
      "report_timing",
      "status",
    ]);
  });

  it("watches, on update, exactly the columns the figures read", () => {
    expect(watchedColumns(definitionOf("commitment_figures_maintain"))).toEqual(figureColumns());
  });

  it("sends an insert down the fast path only when nothing but `open` could change", () => {
    const counted = figureColumns().filter((name) => !PLACEMENT.includes(name));
    expect(fastPathColumns(definitionOf("commitment_figures_maintain"))).toEqual(counted);
  });

  it("would notice a figure column that the update path stopped watching", () => {
    const maintain = definitionOf("commitment_figures_maintain");
    const forgetful = maintain.replaceAll("outcome, lapsed_at, report_timing,", "outcome, lapsed_at,");
    expect(forgetful).not.toBe(maintain);
    const missing = figureColumns().filter((name) => !watchedColumns(forgetful).includes(name));
    expect(missing).toEqual(["report_timing"]);
  });
});
