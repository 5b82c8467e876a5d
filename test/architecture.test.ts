import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/**
 * The module boundaries of shared/DESIGN.md "Architecture", read from the
 * source: a module reaches another only through its `index.ts`, imports
 * only its own file of `src/db/schema/` (`<module>.ts`), and names no
 * other module's table in its SQL text (where one statement must span two
 * modules, the owner exports the fragment).
 */

const root = path.resolve(import.meta.dirname, "..");
const src = path.join(root, "src");
const schemaDir = path.join(src, "db", "schema");

/** Files of `src/db/schema/` that hold no module's tables. */
const sharedSchemaFiles = new Set([
  "index.ts", // the barrel drizzle-kit and the migrator read
  "columns.ts", // column types the schema files share
  "platform.ts", // idempotency keys and rate-limit buckets, kept by src/http
]);

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/** The module a path under `src/modules/<name>/` belongs to, or null. */
function moduleOf(file: string): string | null {
  const relative = path.relative(path.join(src, "modules"), file);
  if (relative.startsWith("..") || !relative.includes(path.sep)) return null;
  return relative.split(path.sep)[0] ?? null;
}

/** Every relative specifier the file imports or re-exports (type-only and dynamic ones too), resolved to a `.ts` path. */
function importsOf(file: string, text: string): string[] {
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((imported) => imported.fileName)
    .filter((specifier) => specifier.startsWith("."))
    .map((specifier) => path.resolve(path.dirname(file), specifier.replace(/\.js$/, ".ts")));
}

/** Table name → the schema file (without `.ts`) that declares it. */
async function tableOwners(): Promise<Map<string, string>> {
  const owners = new Map<string, string>();
  for (const file of await sourceFiles(schemaDir)) {
    const text = await readFile(file, "utf8");
    for (const match of text.matchAll(/pgTable\(\s*"([a-z_]+)"/g)) {
      owners.set(match[1] as string, path.basename(file, ".ts"));
    }
  }
  return owners;
}

/** What `file` (with `text`) does against the rules, one line per violation. */
function violationsOf(file: string, text: string, owners: Map<string, string>): string[] {
  const from = moduleOf(file);
  const where = path.relative(root, file);
  const found: string[] = [];
  for (const target of importsOf(file, text)) {
    const to = moduleOf(target);
    const what = path.relative(root, target);
    if (to !== null && to !== from && path.basename(target) !== "index.ts") {
      found.push(`${where} imports ${what}: another module is reached through its index.ts only`);
    }
    if (from !== null && path.dirname(target) === schemaDir && path.basename(target, ".ts") !== from) {
      found.push(`${where} imports ${what}: a module imports only its own src/db/schema/${from}.ts`);
    }
  }
  if (from !== null) {
    for (const match of text.matchAll(/\b(?:FROM|JOIN|UPDATE|INTO|TABLE)\s+"?([a-z_]+)"?/g)) {
      const table = match[1] as string;
      const owner = owners.get(table);
      if (owner !== undefined && owner !== from) {
        found.push(`${where} names the table ${table} of ${owner} in SQL: the owner exports the fragment`);
      }
    }
  }
  return found;
}

describe("module boundaries", () => {
  it("every schema file but the shared ones is named after the module that owns its tables", async () => {
    const modules = new Set((await readdir(path.join(src, "modules"))).map(String));
    for (const file of await readdir(schemaDir)) {
      if (sharedSchemaFiles.has(file)) continue;
      expect(modules, `src/db/schema/${file}`).toContain(path.basename(file, ".ts"));
    }
  });

  it("hold in src/: no deep import of another module, no other module's tables", async () => {
    const owners = await tableOwners();
    const violations: string[] = [];
    for (const file of await sourceFiles(src)) {
      violations.push(...violationsOf(file, await readFile(file, "utf8"), owners));
    }
    expect(violations).toEqual([]);
  });

  it("would refuse a deep import, another module's schema file or the barrel, and another module's table in SQL", async () => {
    const owners = await tableOwners();
    const inBoundaries = path.join(src, "modules", "boundaries", "boundaries.example.ts");
    const inApp = path.join(src, "app.ts");
    const refused = [
      [inBoundaries, 'import { toCommitment } from "../commitments/commitments.service.js";'],
      [inBoundaries, 'import type { PairsService } from "../pairs/pairs.service.js";'],
      [inBoundaries, 'export { eventSchema } from "../history/history.schemas.js";'],
      [inBoundaries, 'const service = await import("../pairs/pairs.service.js");'],
      [inApp, 'import { createCommitmentsService } from "./modules/commitments/commitments.service.js";'],
      [inBoundaries, 'import { commitments } from "../../db/schema/commitments.js";'],
      [inBoundaries, 'import { boundaries } from "../../db/schema/index.js";'],
      [inBoundaries, "const q = sql`SELECT count(*) FROM commitments WHERE pair_id = $1`;"],
      [inBoundaries, "const q = sql`SELECT b.id FROM boundaries b JOIN pair_members m ON m.pair_id = b.pair_id`;"],
    ] as const;
    for (const [file, text] of refused) expect(violationsOf(file, text, owners), text).toHaveLength(1);
    const allowed = [
      [inBoundaries, 'import type { PairsService } from "../pairs/index.js";'],
      [inBoundaries, 'import { boundaries } from "../../db/schema/boundaries.js";'],
      [inBoundaries, 'import { lockRow } from "./boundaries.transitions.js";'],
      [inBoundaries, "const q = sql`SELECT count(*) FROM boundary_versions WHERE pair_id = $1`;"],
      [inApp, 'import { createBoundariesModule } from "./modules/boundaries/index.js";'],
    ] as const;
    for (const [file, text] of allowed) expect(violationsOf(file, text, owners), text).toEqual([]);
  });
});

describe("one module shape", () => {
  it("every module's index.ts answers a KeptModule named after its folder, and app.ts lists each one", async () => {
    const app = await readFile(path.join(src, "app.ts"), "utf8");
    const folders = (await readdir(path.join(src, "modules"), { withFileTypes: true })).filter((e) => e.isDirectory());
    expect(folders.length).toBeGreaterThan(0);
    for (const { name } of folders) {
      const index = await readFile(path.join(src, "modules", name, "index.ts"), "utf8");
      expect(index, `src/modules/${name}/index.ts`).toMatch(new RegExp(`return keptModule\\(\\{\\s*name: "${name}"`));
      expect(app, `app.ts lists ${name}`).toMatch(
        new RegExp(`const modules: KeptModule\\[\\] = \\[[^\\]]*\\b${name}\\b`),
      );
    }
  });
});
