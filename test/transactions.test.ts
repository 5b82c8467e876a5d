import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "./helpers/app.js";
import { fastHasher } from "./helpers/fast-hasher.js";
import { linkPair } from "./helpers/pairs.js";
import { listen, openStream, type StreamClient, ticketFor } from "./helpers/stream.js";

/**
 * shared/DESIGN.md "Architecture": every write goes through one
 * transaction helper (`inTransaction` in src/db/transaction.ts, which
 * `runWrite` uses too), and effects outside the database happen after
 * commit, through its after-commit hook. Read from the source, then shown
 * through the API.
 */

const root = path.resolve(import.meta.dirname, "..");
const src = path.join(root, "src");
const dbDir = path.join(src, "db");

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/** The code without its comments (prose may name `db.transaction(` or NOTIFY). */
const withoutComments = (text: string) => text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");

/** Receivers that are the pool (a statement on its own, outside any transaction). */
const onThePool = new Set(["db", "db.$client", "pool"]);

/** What `text` (the file `file`) does against the rules, one line per violation. */
function violationsOf(file: string, text: string): string[] {
  const where = path.relative(root, file);
  const code = withoutComments(text);
  const found: string[] = [];
  if (!file.startsWith(dbDir + path.sep) && /\.transaction\s*\(/.test(code)) {
    found.push(`${where} opens a transaction itself: use inTransaction (src/db/transaction.ts) or runWrite`);
  }
  for (const notify of code.matchAll(/pg_notify\s*\(|\bNOTIFY\s+[a-z_"]/g)) {
    // The statement it belongs to: the last `.execute(` or `.query(` before it.
    const before = code.slice(0, notify.index);
    const calls = [...before.matchAll(/([\w$]+(?:\.[\w$]+)*)\s*\.\s*(?:execute|query)\s*\(/g)];
    const receiver = calls.at(-1)?.[1];
    if (receiver === undefined || !onThePool.has(receiver)) {
      found.push(`${where} sends a NOTIFY through ${receiver ?? "?"}: only on the pool, after commit`);
    }
  }
  return found;
}

describe("one transaction path", () => {
  it("holds in src/: transactions are opened only in src/db, NOTIFY is sent only on the pool", async () => {
    const violations: string[] = [];
    for (const file of await sourceFiles(src)) {
      violations.push(...violationsOf(file, await readFile(file, "utf8")));
    }
    expect(violations).toEqual([]);
  });

  it("would refuse a transaction opened in a module and a NOTIFY inside a transaction", () => {
    const inModule = path.join(src, "modules", "pairs", "pairs.example.ts");
    const refused = [
      "return db.transaction(async (tx) => work(tx));",
      "await this.db.transaction((tx) => work(tx), { isolationLevel: 'repeatable read' });",
      "await tx.transaction(async (savepoint) => work(savepoint));",
      "await executor.execute(\n  sql`SELECT pg_notify('kept_events', '{}')`,\n);",
      "await tx.execute(sql`NOTIFY kept_sessions`);",
    ];
    for (const text of refused) expect(violationsOf(inModule, text), text).toHaveLength(1);
    const allowed = [
      "return inTransaction(db, async (tx) => work(tx));",
      "// db.transaction( in a comment, and a NOTIFY carrying ids",
      "await db.execute(sql`SELECT pg_notify('kept_sessions', '{}')`);",
      'db.$client.query({ name: "wake", text: "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload" });',
    ];
    for (const text of allowed) expect(violationsOf(inModule, text), text).toEqual([]);
    expect(violationsOf(path.join(dbDir, "transaction.ts"), "await db.transaction(work);")).toEqual([]);
  });
});

describe("effects after commit", () => {
  let t: TestApp;
  let base: string;
  const clients: StreamClient[] = [];
  beforeAll(async () => {
    // Catch-up ticks ten minutes apart: an event reaches a socket by hand-over or by notification.
    t = await buildTestApp({ passwordHasher: fastHasher, env: { KEPT_STREAM_CATCH_UP_MS: "600000" } });
    base = await listen(t);
  });
  afterAll(async () => {
    for (const client of clients) client.ws.terminate();
    await t.close();
  });

  it("deleting an account hands the partner's socket the pair's ending from the commit itself, not by NOTIFY", async () => {
    const { inviter, joiner } = await linkPair(t);
    const socket = await openStream(base, `ticket=${await ticketFor(t, inviter)}`);
    clients.push(socket);
    await socket.waitFor((m) => m.type === "hello");
    const handedOver = t.app.realtimeStats().handedOver;
    await t.http.delete("/v1/me").set(joiner.auth).send({ password: joiner.password }).expect(204);
    await socket.waitFor((m) => m.type === "event" && (m.event as { type: string }).type === "pair.ended");
    // Sent from the deletion's after-commit effect, without reading it back.
    expect(t.app.realtimeStats().handedOver).toBe(handedOver + 1);
  });
});
