import { compileErrors, validate } from "@readme/openapi-parser";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t.close());

type Operation = { operationId?: string; tags?: string[]; responses?: Record<string, unknown>; security?: unknown[] };

describe("the OpenAPI document", () => {
  it("is valid OpenAPI 3.1", async () => {
    const response = await t.http.get("/openapi.json").expect(200);
    expect(response.body.openapi).toBe("3.1.0");
    const result = await validate(structuredClone(response.body));
    expect(result.valid, result.valid ? "" : compileErrors(result)).toBe(true);
  });

  it("names every operation once, tags it, and documents its problems", async () => {
    const { body } = await t.http.get("/openapi.json").expect(200);
    const operations = Object.entries(body.paths as Record<string, Record<string, Operation>>).flatMap(([path, item]) =>
      Object.entries(item).map(([method, operation]) => ({ path, method, operation })),
    );
    expect(operations.length).toBeGreaterThan(8);
    const ids = operations.map(({ operation }) => operation.operationId);
    expect(ids.every(Boolean)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { path, method, operation } of operations) {
      expect(operation.tags?.length, `${method} ${path} has tags`).toBeGreaterThan(0);
      if (operation.security) {
        expect(Object.keys(operation.responses ?? {}), `${method} ${path} documents 401`).toContain("401");
      }
    }
    expect(Object.keys(body.paths)).toEqual(
      expect.arrayContaining([
        "/v1/auth/register",
        "/v1/auth/login",
        "/v1/auth/refresh",
        "/v1/me",
        "/.well-known/jwks.json",
      ]),
    );
    expect(body.components.schemas.Problem.properties.code).toBeDefined();
    // The WebSocket protocol's messages are published too.
    expect(Object.keys(body.components.schemas)).toEqual(
      expect.arrayContaining(["StreamServerMessage", "StreamClientMessage", "Event"]),
    );
    expect(body.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
  });

  it("is browsable at /docs", async () => {
    const response = await t.http.get("/docs/").expect(200);
    expect(response.headers["content-type"]).toMatch(/text\/html/);
  });
});

describe("serving the document", () => {
  it("writes it once: every answer is the same text and ETag, built no more, and 304 on If-None-Match", async () => {
    const build = vi.spyOn(t.app, "swagger");
    try {
      const first = await t.http.get("/openapi.json").expect(200);
      const etag = first.headers.etag as string;
      expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
      expect(first.headers["content-type"]).toMatch(/^application\/json/);
      const again = await t.http.get("/openapi.json").expect(200);
      expect(again.text).toBe(first.text);
      expect(again.headers.etag).toBe(etag);
      // The docs UI's own copy is the same text.
      const docs = await t.http.get("/docs/json").expect(200);
      expect(docs.text).toBe(first.text);
      expect(docs.headers.etag).toBe(etag);

      const kept = await t.http.get("/openapi.json").set("If-None-Match", etag).expect(304);
      expect(kept.text).toBe("");
      await t.http.get("/docs/json").set("If-None-Match", etag).expect(304);
      await t.http.get("/openapi.json").set("If-None-Match", '"another"').expect(200);
      expect(build).not.toHaveBeenCalled();
    } finally {
      build.mockRestore();
    }
  });
});
