import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { agreeBoundary } from "../helpers/boundaries.js";
import { startTestCluster, type TestCluster } from "../helpers/cluster.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { type LinkedPair, linkPair } from "../helpers/pairs.js";

/**
 * Generated junk at every write route of the OpenAPI document: wrong types,
 * huge strings, deep nesting, unicode edge cases, NUL bytes, numbers out of
 * range, unknown fields, prototype keys, malformed JSON. Every request
 * carries at least one defect, so each must answer a 4xx problem+json and
 * change nothing in the database.
 */

const RUNS = Number(process.env.KEPT_FUZZ_RUNS ?? 40);
const WRITE_METHODS = ["post", "put", "patch", "delete"] as const;

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  items?: JsonSchema;
  $ref?: string;
};

type Operation = {
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
  parameters?: { in: string; name: string; schema?: JsonSchema }[];
};
type OpenApi = {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, JsonSchema> };
};

type WriteRoute = { method: (typeof WRITE_METHODS)[number]; path: string; body: JsonSchema | undefined };

/** Fields Fastify's error ordering checks before validation: junk there would test 404s, not input handling. */
type World = LinkedPair & { ids: Record<string, string> };

const FUTURE = "2026-06-01T10:00:00.000Z";

function resolve(schema: JsonSchema, doc: OpenApi): JsonSchema {
  let current = schema;
  for (let depth = 0; current.$ref && depth < 10; depth++) {
    const name = current.$ref.split("/").at(-1) ?? "";
    current = doc.components?.schemas?.[name] ?? {};
  }
  return current;
}

/** The object branch of a body schema (`{…} | null` bodies included). */
function objectBranch(schema: JsonSchema, doc: OpenApi): JsonSchema {
  const resolved = resolve(schema, doc);
  const branches = resolved.anyOf ?? resolved.oneOf;
  if (branches) {
    const object = branches.map((b) => resolve(b, doc)).find((b) => b.type === "object" || b.properties);
    if (object) return object;
  }
  return resolved;
}

function typesOf(schema: JsonSchema, doc: OpenApi): Set<string> {
  const resolved = resolve(schema, doc);
  const branches = resolved.anyOf ?? resolved.oneOf;
  if (branches) return new Set(branches.flatMap((b) => [...typesOf(b, doc)]));
  if (resolved.enum || resolved.const !== undefined) {
    return new Set([...(resolved.enum ?? [resolved.const])].map((v) => (v === null ? "null" : typeof v)));
  }
  const type = resolved.type ?? (resolved.properties ? "object" : undefined);
  const list = Array.isArray(type) ? type : type ? [type] : [];
  return new Set(list.map((t) => (t === "integer" ? "number" : t)));
}

/** A value the schema accepts, as far as a generic reading of it goes. */
function plausible(schema: JsonSchema, doc: OpenApi): unknown {
  const resolved = resolve(schema, doc);
  const branches = resolved.anyOf ?? resolved.oneOf;
  if (branches) {
    const first = branches.map((b) => resolve(b, doc)).find((b) => b.type !== "null") ?? branches[0];
    return first ? plausible(first, doc) : null;
  }
  if (resolved.enum) return resolved.enum[0];
  if (resolved.const !== undefined) return resolved.const;
  const type = Array.isArray(resolved.type) ? resolved.type[0] : resolved.type;
  switch (type ?? (resolved.properties ? "object" : "string")) {
    case "object":
      return Object.fromEntries(
        (resolved.required ?? []).map((key) => [key, plausible(resolved.properties?.[key] ?? {}, doc)]),
      );
    case "array":
      return [];
    case "integer":
    case "number":
      return resolved.minimum ?? 0;
    case "boolean":
      return true;
    case "null":
      return null;
    default:
      if (resolved.format === "date-time") return FUTURE;
      if (resolved.format === "email") return "fuzz@example.com";
      return "x".repeat(Math.max(1, resolved.minLength ?? 1));
  }
}

// ---- junk -------------------------------------------------------------------------------------

/** JSON text fragments no schema here accepts in place of a scalar, plus raw texts JSON.stringify cannot make. */
const rawOddities = fc.constantFrom(
  "1e400",
  "-1e400",
  "123456789012345678901234567890",
  "-0",
  '"\\ud800"',
  '"\\udfff\\ud800"',
  '"\\u0000"',
  '"a\\u0000b"',
  '"\\u202e\\u200b\\ufeff"',
  '"👩‍👩‍👧‍👦"',
  '"e\\u0301"',
  "[]",
  "{}",
  "true",
  "null",
);

const unicodeString = fc.string({ unit: "grapheme", maxLength: 40 });
const binaryString = fc.string({ unit: "binary", maxLength: 40 });

const junkValueText: fc.Arbitrary<string> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? "null"),
  rawOddities,
  unicodeString.map((s) => JSON.stringify(s)),
  binaryString.map((s) => JSON.stringify(s)),
);

const deepText = fc
  .tuple(fc.integer({ min: 50, max: 3000 }), fc.boolean())
  .map(([depth, arrays]) =>
    arrays ? "[".repeat(depth) + "]".repeat(depth) : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`,
  );

function withNul(base: string): fc.Arbitrary<string> {
  return fc
    .tuple(fc.nat({ max: base.length }), fc.constantFrom("\u0000", "\u0000\u0000", "a\u0000"))
    .map(([at, nul]) => base.slice(0, at) + nul + base.slice(at));
}

function tooLong(schema: JsonSchema): fc.Arbitrary<string> {
  const max = schema.maxLength ?? 60_000;
  return fc
    .tuple(
      fc.oneof(fc.integer({ min: max + 1, max: max + 50 }), fc.constant(70_000)),
      fc.constantFrom("x", "é", "👍", "\u200b", "\ud800"),
    )
    .map(([length, unit]) => unit.repeat(length)); // lengths count code points, as zod does
}

/** A value of a JSON type the field does not allow. */
function wrongType(schema: JsonSchema, doc: OpenApi): fc.Arbitrary<string> {
  const allowed = typesOf(schema, doc);
  const candidates: [string, fc.Arbitrary<string>][] = [
    ["string", unicodeString.map((s) => JSON.stringify(s))],
    ["number", fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })).map(String)],
    ["boolean", fc.boolean().map(String)],
    ["null", fc.constant("null")],
    ["array", fc.array(junkValueText, { maxLength: 3 }).map((items) => `[${items.join(",")}]`)],
    [
      "object",
      fc.dictionary(unicodeString, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }).map((o) => JSON.stringify(o)),
    ],
  ];
  const usable = candidates.filter(([type]) => !allowed.has(type)).map(([, arb]) => arb);
  return usable.length > 0 ? fc.oneof(...usable) : fc.constant("[[[]]]");
}

/** Values a field of this schema must refuse. */
function badValue(schema: JsonSchema, doc: OpenApi): fc.Arbitrary<string> {
  const resolved = objectBranch(schema, doc);
  const types = typesOf(schema, doc);
  const options: fc.Arbitrary<string>[] = [wrongType(schema, doc), deepText];
  const text = (arb: fc.Arbitrary<string>) => arb.map((s) => JSON.stringify(s));
  const stringSchema = [resolved, ...(resolved.anyOf ?? [])]
    .map((s) => resolve(s, doc))
    .find((s) => s.type === "string");
  if (stringSchema) {
    const base = String(plausible(stringSchema, doc));
    options.push(text(withNul(base)), text(tooLong(stringSchema)));
    if (stringSchema.enum) {
      options.push(text(unicodeString.filter((s) => !stringSchema.enum?.includes(s))));
    }
    if (stringSchema.format === "date-time") {
      options.push(
        fc.constantFrom('"2026-02-30T10:00:00Z"', '"yesterday"', '"2026-06-01"', '"+275760-09-13T00:00:00Z"'),
        text(unicodeString.map((s) => `not a date ${s}`)),
      );
    }
    if (stringSchema.format === "email") options.push(text(unicodeString.filter((s) => !s.includes("@"))));
  }
  if (types.has("number")) {
    const numberSchema = [resolved, ...(resolved.anyOf ?? [])]
      .map((s) => resolve(s, doc))
      .find((s) => s.type === "integer" || s.type === "number");
    const out: string[] = ["1e400", "-1e400"];
    if (numberSchema?.minimum !== undefined) out.push(String(numberSchema.minimum - 1), "-1e20");
    if (numberSchema?.maximum !== undefined) out.push(String(numberSchema.maximum + 1), "1e20");
    if (numberSchema?.type === "integer") out.push("0.5", "1.000001");
    options.push(fc.constantFrom(...out));
  }
  return fc.oneof(...options);
}

const prototypeKeys = fc.constantFrom("__proto__", "constructor", "prototype", "toString", "hasOwnProperty");
const massAssignmentKeys = fc.constantFrom("id", "ownerId", "pairId", "userId", "status", "version", "isAdmin", "role");

function objectText(entries: [string, string][]): string {
  return `{${entries.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(",")}}`;
}

/** A whole body with at least one defect: the route must refuse it. */
function badBody(schema: JsonSchema | undefined, doc: OpenApi): fc.Arbitrary<string> {
  const object = schema ? objectBranch(schema, doc) : {};
  const properties = object.properties ?? {};
  const names = Object.keys(properties);
  const required = object.required ?? [];
  const base = plausible(object, doc) as Record<string, unknown>;

  const topLevel = fc.oneof(
    junkValueText.filter((text) => text !== "null" && !text.startsWith("{")),
    deepText.filter((text) => text.startsWith("[")),
    fc.constantFrom("", "{", '{"a":}', "{'a':1}", '{"a":1,}', "NaN", "undefined", '"\\u0000"', "\u0000"),
  );

  // Other fields get plausible values, or noise; the defect is applied last, so it always stands.
  const noise = fc.array(fc.tuple(fc.constantFrom(...(names.length > 0 ? names : ["_"])), junkValueText), {
    maxLength: 2,
  });

  const unknownKey = fc.tuple(
    fc.oneof(prototypeKeys, massAssignmentKeys, unicodeString, binaryString).filter((key) => !names.includes(key)),
    junkValueText,
  );

  const defects: fc.Arbitrary<(entries: Map<string, string>) => void>[] = [
    unknownKey.map(
      ([key, value]) =>
        (entries) =>
          entries.set(key, value),
    ),
  ];
  if (names.length > 0) {
    defects.push(
      fc
        .constantFrom(...names)
        .chain((name) => badValue(properties[name] ?? {}, doc).map((value) => ({ name, value })))
        .map(
          ({ name, value }) =>
            (entries) =>
              entries.set(name, value),
        ),
    );
  }
  if (required.length > 0) {
    defects.push(fc.constantFrom(...required).map((name) => (entries) => entries.delete(name)));
  }

  const withDefect = fc.tuple(noise, fc.oneof(...defects)).map(([noisy, defect]) => {
    const entries = new Map(Object.entries(base).map(([k, v]) => [k, JSON.stringify(v)] as [string, string]));
    for (const [name, value] of noisy) if (names.includes(name)) entries.set(name, value);
    defect(entries);
    return objectText([...entries]);
  });

  return fc.oneof({ arbitrary: withDefect, weight: 4 }, { arbitrary: topLevel, weight: 1 });
}

/** Junk in the headers a write reads: never a reason to write, never a 5xx. */
const junkHeaders = fc.record(
  {
    "idempotency-key": fc.oneof(fc.string({ unit: "grapheme-ascii", maxLength: 300 }), fc.constant("k".repeat(256))),
    "if-match": fc.oneof(fc.constantFrom('"1"', '"999999999999"', "*", 'W/"1"', '"-1"'), fc.string({ maxLength: 50 })),
  },
  { requiredKeys: [] },
);

// ---- the world --------------------------------------------------------------------------------

async function fingerprint(databaseUrl: string): Promise<Record<string, string>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows: tables } = await client.query<{ name: string }>(
      // Rate-limit counters count every request, refused or not.
      "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'rate_limit_buckets' ORDER BY 1",
    );
    const result: Record<string, string> = {};
    for (const { name } of tables) {
      const ident = client.escapeIdentifier(name);
      const { rows } = await client.query<{ digest: string }>(
        `SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') AS digest FROM ${ident} t`,
      );
      result[name] = rows[0]?.digest ?? "";
    }
    return result;
  } finally {
    await client.end();
  }
}

describe("bad input at volume, at every write route", () => {
  let cluster: TestCluster;
  let t: TestApp;
  let doc: OpenApi;
  let world: World;
  const routes: WriteRoute[] = [];

  beforeAll(async () => {
    cluster = await startTestCluster();
    const databaseUrl = await cluster.createDatabase("kept_fuzz");
    t = await buildTestApp({ databaseUrl, passwordHasher: fastHasher });
    doc = (await t.http.get("/openapi.json").expect(200)).body as OpenApi;
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const method of WRITE_METHODS) {
        const operation = operations[method];
        if (!operation) continue;
        routes.push({ method, path, body: operation.requestBody?.content?.["application/json"]?.schema });
      }
    }

    // Real ids for every path parameter, so requests reach validation instead of a 404.
    const pair = await linkPair(t);
    const owner = pair.inviter;
    const partner = pair.joiner;
    const commitment = await t.http
      .post(`/v1/pairs/${pair.pairId}/commitments`)
      .set(owner.auth)
      .send({ title: "Home by seven", dueAt: FUTURE })
      .expect(201);
    const series = await t.http
      .post(`/v1/pairs/${pair.pairId}/commitments`)
      .set(owner.auth)
      .send({ title: "Walk", dueAt: FUTURE, recurrence: { rrule: "FREQ=DAILY;COUNT=3" } })
      .expect(201);
    const request = await t.http
      .post(`/v1/pairs/${pair.pairId}/requests`)
      .set(partner.auth)
      .send({ title: "Call me", dueAt: FUTURE })
      .expect(201);
    const boundary = await agreeBoundary(t, pair.pairId, owner, partner);
    const revision = await t.http
      .post(`/v1/pairs/${pair.pairId}/boundaries/${boundary.id}/revisions`)
      .set(owner.auth)
      .send({ text: "Phones charge in the hall." })
      .expect(201);
    world = {
      ...pair,
      ids: {
        pairId: pair.pairId,
        commitmentId: commitment.body.id,
        seriesId: series.body.seriesId,
        requestId: request.body.id,
        id: boundary.id,
        n: String(revision.body.version),
      },
    };
  });

  afterAll(async () => {
    await t?.close();
    await cluster?.destroy();
  });

  it("finds the write routes in the OpenAPI document", () => {
    expect(routes.length).toBeGreaterThan(30);
    expect(routes.map((r) => `${r.method} ${r.path}`)).toContain("post /v1/pairs/{pairId}/commitments");
  });

  it("every read route answers junk query strings without a 5xx, and refusals are problem+json", async () => {
    const junkQueryValue = fc.oneof(
      fc.constantFrom(
        "1e20",
        "-1",
        "99999999999999999999",
        "1.5",
        "NaN",
        "Infinity",
        "%00",
        "a%00b",
        "",
        "%F0%9F",
        "%ZZ",
      ),
      fc.string({ unit: "grapheme", maxLength: 30 }).map(encodeURIComponent),
      fc.string({ unit: "binary", maxLength: 30 }).map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, ""))),
      fc.constant("x".repeat(2000)),
    );
    for (const [template, operations] of Object.entries(doc.paths)) {
      const operation = operations.get;
      if (!operation || !template.includes("{pairId}")) continue;
      const path = template.replace(/\{(\w+)\}/g, (_m, name: string) => world.ids[name] ?? "x");
      const names = [...(operation.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name), "unknown"];
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(fc.constantFrom(...names), junkQueryValue), { minLength: 1, maxLength: 3 }),
          async (query) => {
            const url = `${path}?${query.map(([name, value]) => `${name}=${value}`).join("&")}`;
            const response = await t.http.get(url).set(world.inviter.auth);
            expect(response.status, `GET ${url} → ${response.text.slice(0, 300)}`).toBeLessThan(500);
            if (response.status >= 400)
              expect(response.headers["content-type"], url).toMatch(/^application\/problem\+json/);
          },
        ),
        { numRuns: Math.ceil(RUNS / 2) },
      );
    }
  });

  it("every write route refuses junk with a 4xx problem+json and writes nothing", async () => {
    const failures: string[] = [];
    for (const route of routes) {
      const path = route.path.replace(/\{(\w+)\}/g, (_match, name: string) => {
        const id = world.ids[name];
        if (!id) throw new Error(`no id for path parameter {${name}} of ${route.path}: add one to the fuzz world`);
        return id;
      });
      const before = await fingerprint(t.databaseUrl);
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(badBody(route.body, doc), junkHeaders, async (body, headers) => {
          const response = await t.http[route.method](path)
            .set(world.inviter.auth)
            .set(headers)
            .set("content-type", "application/json")
            .send(body);
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          const where = `${route.method.toUpperCase()} ${route.path} with ${JSON.stringify(body.slice(0, 300))}`;
          expect(
            response.status,
            `${where} → ${response.status} ${response.text.slice(0, 300)}`,
          ).toBeGreaterThanOrEqual(400);
          expect(response.status, `${where} → ${response.text.slice(0, 300)}`).toBeLessThan(500);
          // Authentication and membership passed: the refusal is about the input.
          expect([401, 403, 404], where).not.toContain(response.status);
          expect(response.headers["content-type"], where).toMatch(/^application\/problem\+json/);
          expect(response.body).toMatchObject({ status: response.status, code: expect.any(String) });
        }),
        { numRuns: RUNS },
      );
      const after = await fingerprint(t.databaseUrl);
      if (JSON.stringify(after) !== JSON.stringify(before)) {
        const changed = Object.keys(after).filter((table) => after[table] !== before[table]);
        failures.push(`${route.method.toUpperCase()} ${route.path} changed ${changed.join(", ")}`);
      }
      expect([...statuses.keys()].every((status) => status >= 400 && status < 500)).toBe(true);
    }
    expect(failures).toEqual([]);
  });
});
