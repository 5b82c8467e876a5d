import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import pg from "pg";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbeddedPostgres } from "../../src/db/embedded.js";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { HOUR } from "../helpers/clock.js";
import { linkPair } from "../helpers/pairs.js";

/**
 * A database error must reach the log by its kind (SQLSTATE, constraint),
 * never by its words: drizzle's "Failed query: <sql> params: <values>" and
 * PostgreSQL's `detail` ("Failing row contains (…)", "Key (…)=(…)") carry
 * people's titles and notes. The faults are forced with constraints this
 * file's own database gets, so the words travel exactly as they would.
 */

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t.close());

async function sqlOnTestDatabase(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: t.databaseUrl });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

const inHours = (hours: number) => new Date(t.clock.now().getTime() + hours * HOUR).toISOString();

function linesAbout(requestId: string): Record<string, unknown>[] {
  return t.logs.filter((line) => line.includes(requestId)).map((line) => JSON.parse(line));
}

describe("database errors in the log", () => {
  it("an unexpected one (500) is logged by its code, without the SQL, its parameters or the failing row", async () => {
    const secret = "Tell nobody about the clinic on Friday";
    await sqlOnTestDatabase(
      `ALTER TABLE commitments ADD CONSTRAINT log_privacy_probe CHECK (title <> '${secret}') NOT VALID`,
    );
    const p = await linkPair(t);
    const from = t.logs.length;
    const response = await t.http
      .post(`/v1/pairs/${p.pairId}/commitments`)
      .set(p.inviter.auth)
      .set("x-request-id", "log-privacy-500")
      .send({ title: secret, details: `${secret}, really`, dueAt: inHours(10) })
      .expect(500);
    expect(response.body.code).toBe("INTERNAL");
    const written = t.logs.slice(from).join("");
    expect(written).not.toContain("clinic");
    expect(written.toLowerCase()).not.toContain("insert into");
    expect(written).not.toContain("Failing row");
    // What an operator needs is still there: the SQLSTATE and the constraint, under the request id.
    const errors = linesAbout("log-privacy-500").filter((line) => line.err);
    expect(errors.length).toBeGreaterThan(0);
    expect(JSON.stringify(errors)).toContain('"code":"23514"');
    expect(JSON.stringify(errors)).toContain("log_privacy_probe");
    await sqlOnTestDatabase("ALTER TABLE commitments DROP CONSTRAINT log_privacy_probe");
  });

  it("a data error whose message quotes the value is logged with the quote blanked", async () => {
    const secret = "Ask about the money I borrowed";
    // PostgreSQL answers 22P02 `invalid input syntax for type integer: "<the title>"`.
    await sqlOnTestDatabase(
      "ALTER TABLE commitments ADD CONSTRAINT log_privacy_cast CHECK (title::integer IS NOT NULL) NOT VALID",
    );
    const p = await linkPair(t);
    const from = t.logs.length;
    await t.http
      .post(`/v1/pairs/${p.pairId}/commitments`)
      .set(p.inviter.auth)
      .send({ title: secret, dueAt: inHours(10) })
      .expect(500);
    const written = t.logs.slice(from).join("");
    expect(written).not.toContain("borrowed");
    expect(written).toContain('"code":"22P02"');
    expect(written).toContain("invalid input syntax for type integer");
    await sqlOnTestDatabase("ALTER TABLE commitments DROP CONSTRAINT log_privacy_cast");
  });

  it("a unique violation (409) is logged without the key's value", async () => {
    const secret = "Our anniversary, the one we missed";
    await sqlOnTestDatabase(
      "CREATE UNIQUE INDEX log_privacy_unique ON commitments (pair_id, details) WHERE details IS NOT NULL",
    );
    const p = await linkPair(t);
    const create = () =>
      t.http
        .post(`/v1/pairs/${p.pairId}/commitments`)
        .set(p.inviter.auth)
        .set("x-request-id", "log-privacy-409")
        .send({ title: "Dinner", details: secret, dueAt: inHours(10) });
    await create().expect(201);
    const from = t.logs.length;
    expect((await create().expect(409)).body.code).toBe("CONFLICT");
    const written = t.logs.slice(from).join("");
    expect(written).not.toContain("anniversary");
    expect(written).not.toContain("Key (");
    expect(written.toLowerCase()).not.toContain("insert into");
    expect(written).toContain('"code":"23505"');
    await sqlOnTestDatabase("DROP INDEX log_privacy_unique");
  });
});

describe("the embedded server's own log", () => {
  it("relayed at debug, it does not repeat a failed statement, its values or its detail", async () => {
    const secret = "I was at my sister's, not at work";
    const dir = await mkdtemp(path.join(os.tmpdir(), "kept-logs-"));
    // As root, the server runs as the `postgres` user, which must enter this folder.
    await chmod(dir, 0o755);
    const lines: string[] = [];
    let markerArrived: () => void = () => {};
    const marker = new Promise<void>((resolve) => {
      markerArrived = resolve;
    });
    const logger = pino(
      { level: "debug" },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(chunk.toString());
          if (chunk.toString().includes("kept log marker")) markerArrived();
          done();
        },
      }),
    );
    const server = await startEmbeddedPostgres({
      dataDir: dir,
      dataDirSetting: "log test cluster folder",
      logger,
      ephemeral: true,
      database: "postgres",
    });
    try {
      const client = new pg.Client({ connectionString: server.adminUrl });
      await client.connect();
      try {
        await expect(client.query("SELECT $1::integer", [secret])).rejects.toMatchObject({ code: "22P02" });
        // The same backend writes a LOG line after the error's lines: once it arrives, they would have too.
        await client.query("DO $$ BEGIN RAISE LOG 'kept log marker'; END $$");
      } finally {
        await client.end();
      }
      await marker;
      const written = lines.join("");
      expect(written).not.toContain("sister");
      expect(written).not.toContain("SELECT $1");
    } finally {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
