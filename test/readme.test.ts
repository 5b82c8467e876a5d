import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { environmentVariables } from "../src/config.js";
import { errorCatalogue } from "../src/errors/catalogue.js";

const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");

describe("the README stays true", () => {
  it("documents every problem code with its status", () => {
    for (const [code, { status }] of Object.entries(errorCatalogue)) {
      expect(readme, code).toContain(`| \`${code}\` | ${status} |`);
    }
  });

  it("documents every configuration variable", () => {
    for (const name of environmentVariables) expect(readme, name).toContain(`\`${name}\``);
  });
});
