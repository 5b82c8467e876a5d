import { access, readdir, readFile } from "node:fs/promises";
import { dirname, join, normalize } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { environmentVariables } from "../src/config.js";
import { errorCatalogue } from "../src/errors/catalogue.js";
import { boundaryEventTypes } from "../src/modules/boundaries/index.js";
import { commitmentEventTypes } from "../src/modules/commitments/index.js";
import { pairEventTypes } from "../src/modules/pairs/index.js";
import { buildTestApp, type TestApp } from "./helpers/app.js";

const read = (path: string) => readFile(new URL(`../${path}`, import.meta.url), "utf8");
const readme = await read("README.md");
const api = await read("docs/api.md");

/** The rows of the markdown table that follows `heading` (up to the next heading). */
function tableUnder(document: string, heading: string): string[][] {
  const start = document.indexOf(`\n${heading}\n`);
  expect(start, heading).toBeGreaterThan(-1);
  const rest = document.slice(start + heading.length + 2);
  const end = rest.search(/\n#{1,6} /);
  return (end === -1 ? rest : rest.slice(0, end))
    .split("\n")
    .filter((line) => line.startsWith("|") && !line.startsWith("|---"))
    .slice(1)
    .map((line) =>
      line
        .slice(1, -1)
        .split(" | ")
        .map((cell) => cell.trim()),
    );
}

const code = (cell: string | undefined) => /^`([^`]+)`/.exec(cell ?? "")?.[1];

/**
 * Method and path of every route, from fastify's route tree: each line's
 * segment joined to its ancestors', with the methods in brackets. Paths
 * are written as the docs do (`{pairId}`); HEAD (added to every GET) and
 * the CORS preflight catch-all are left out, and so is `/docs`.
 */
function registeredRoutes(tree: string): string[] {
  const stack: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split("\n")) {
    const match = /^([│ ]*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/u.exec(line);
    if (!match) continue;
    const depth = (match[1] ?? "").length / 4;
    const segment = match[2] === "(empty root node)" ? "" : (match[2] ?? "");
    stack.length = depth;
    stack.push(segment);
    const path = stack.join("").replace(/:(\w+)/g, "{$1}");
    for (const method of (match[3] ?? "").split(", ").filter(Boolean)) {
      if (method === "HEAD" || method === "OPTIONS" || path === "/docs" || path.startsWith("/docs/")) continue;
      routes.push(`${method} ${path}`);
    }
  }
  return routes;
}

/** GitHub's anchors for a document's headings: lower case, punctuation dropped, spaces as dashes, repeats numbered. */
function anchorsOf(document: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading] of document.matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = (heading ?? "")
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}_\- ]/gu, "")
      .replaceAll(" ", "-");
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

describe("the README and docs/ stay true", () => {
  it("link only to files and headings that exist", async () => {
    const files = ["README.md", ...(await readdir(new URL("../docs", import.meta.url))).map((name) => `docs/${name}`)];
    for (const file of files) {
      const text = await read(file);
      for (const [, link] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (!link || /^[a-z]+:/.test(link)) continue;
        const [target = "", anchor] = link.split("#");
        const path = target === "" ? file : normalize(join(dirname(file), target));
        await expect(access(new URL(`../${path}`, import.meta.url)), `${file}: ${link}`).resolves.toBeUndefined();
        if (anchor) expect(anchorsOf(await read(path)), `${file}: ${link}`).toContain(anchor);
      }
    }
  });

  it("list every problem code with its status, and no code the catalogue lacks", () => {
    const rows = tableUnder(api, "## Problem codes");
    const documented = new Map(rows.map(([cell, status]) => [code(cell), Number(status)]));
    const catalogue = new Map(Object.entries(errorCatalogue).map(([name, { status }]) => [name, status]));
    expect(documented).toEqual(catalogue);
    expect(rows).toHaveLength(catalogue.size);
  });

  it("list every configuration variable in the README, and no variable Kept does not read", async () => {
    const documented = tableUnder(readme, "## Configuration").flatMap(([cell]) =>
      [...(cell ?? "").matchAll(/`([A-Z_]+)`/g)].map((match) => match[1]),
    );
    // Read by the test set-up, not by the service.
    const testOnly = ["TEST_DATABASE_URL"];
    const setup = await read("test/setup/global-setup.ts");
    for (const name of testOnly) expect(setup, name).toContain(name);
    expect(new Set(documented)).toEqual(new Set([...environmentVariables, ...testOnly]));
    expect(documented).toHaveLength(new Set(documented).size);
  });

  it("list every event type the modules append, and no other", () => {
    const documented = tableUnder(api, "## Event types").map(([cell]) => code(cell));
    const appended = [
      ...pairEventTypes,
      ...commitmentEventTypes,
      ...boundaryEventTypes.map((type) => `boundary.${type}`),
    ];
    expect(new Set(documented)).toEqual(new Set(appended));
    expect(documented).toHaveLength(appended.length);
  });

  describe("list every route", () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await buildTestApp();
    });
    afterAll(async () => {
      await t.close();
    });

    it("the app registers, and no route it lacks", () => {
      const documented = tableUnder(api, "## Routes").map(([method, path]) => `${method} ${code(path)}`);
      const registered = registeredRoutes(t.app.printRoutes());
      expect(registered.length).toBeGreaterThan(50);
      expect(new Set(documented)).toEqual(new Set(registered));
      expect(documented).toHaveLength(new Set(documented).size);
    });
  });
});
