import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { registerUser } from "../helpers/users.js";

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ env: { CORS_ORIGINS: "https://app.example.com", KEPT_BODY_LIMIT_BYTES: "2048" } });
});
afterAll(() => t.close());

function expectProblem(response: { status: number; headers: Record<string, string>; body: Record<string, unknown> }) {
  expect(response.headers["content-type"]).toMatch(/^application\/problem\+json/);
  expect(response.body).toMatchObject({ status: response.status });
  for (const field of ["type", "title", "detail", "code"]) expect(typeof response.body[field]).toBe("string");
  expect(JSON.stringify(response.body)).not.toMatch(/\bat .*\.(ts|js):\d+/);
}

describe("problem responses", () => {
  it("unknown route: 404 ROUTE_NOT_FOUND", async () => {
    const response = await t.http.get("/v1/nothing-here").expect(404);
    expectProblem(response);
    expect(response.body.code).toBe("ROUTE_NOT_FOUND");
  });

  it("wrong method on a known path: 405 with Allow", async () => {
    const response = await t.http.delete("/v1/auth/login").expect(405);
    expectProblem(response);
    expect(response.body.code).toBe("METHOD_NOT_ALLOWED");
    expect(response.headers.allow).toBe("POST");
    const me = await t.http.put("/v1/me").expect(405);
    expect(me.headers.allow).toBe("GET, HEAD, PATCH, DELETE");
  });

  it("malformed JSON: 400 MALFORMED_JSON", async () => {
    const response = await t.http
      .post("/v1/auth/login")
      .set("Content-Type", "application/json")
      .send('{"email": "a@example.com", ')
      .expect(400);
    expectProblem(response);
    expect(response.body.code).toBe("MALFORMED_JSON");
  });

  it("invalid fields: 400 VALIDATION_FAILED listing each path", async () => {
    const response = await t.http
      .post("/v1/auth/register")
      .send({ email: "not-an-email", password: 12, displayName: "", timeZone: "UTC", extra: true })
      .expect(400);
    expectProblem(response);
    expect(response.body.code).toBe("VALIDATION_FAILED");
    const paths = (response.body.errors as { path: string }[]).map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(["body.email", "body.password", "body.displayName"]));
    expect(JSON.stringify(response.body.errors)).toContain("extra");
  });

  it("body over the limit: 413 PAYLOAD_TOO_LARGE", async () => {
    const response = await t.http
      .post("/v1/auth/login")
      .send({ email: "a@example.com", password: "x".repeat(5000) })
      .expect(413);
    expectProblem(response);
    expect(response.body.code).toBe("PAYLOAD_TOO_LARGE");
  });

  it("wrong content type: 415 UNSUPPORTED_MEDIA_TYPE", async () => {
    const response = await t.http
      .post("/v1/auth/login")
      .set("Content-Type", "text/plain")
      .send("email=a@example.com")
      .expect(415);
    expectProblem(response);
    expect(response.body.code).toBe("UNSUPPORTED_MEDIA_TYPE");
  });

  it("authentication is checked before validation (401 before 400)", async () => {
    const response = await t.http.patch("/v1/me").send({ nonsense: true }).expect(401);
    expectProblem(response);
    expect(response.body.code).toBe("UNAUTHENTICATED");
  });
});

describe("request ids", () => {
  it("echoes a sane X-Request-Id and generates one otherwise", async () => {
    const echoed = await t.http.get("/healthz").set("X-Request-Id", "trace-123").expect(200);
    expect(echoed.headers["x-request-id"]).toBe("trace-123");
    const generated = await t.http.get("/healthz").set("X-Request-Id", "bad id with spaces").expect(200);
    expect(generated.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    const problem = await t.http.get("/v1/nope").set("X-Request-Id", "trace-456").expect(404);
    expect(problem.body.requestId).toBe("trace-456");
  });
});

describe("security headers and CORS", () => {
  it("sets security headers", async () => {
    const response = await t.http.get("/healthz").expect(200);
    expect(response.headers["x-content-type-options"]).toBe("nosniff");
    expect(response.headers["x-frame-options"]).toBe("SAMEORIGIN");
    expect(response.headers["strict-transport-security"]).toBeDefined();
  });

  it("allows the configured origin with the design's headers, and no other origin", async () => {
    const preflight = await t.http
      .options("/v1/me")
      .set("Origin", "https://app.example.com")
      .set("Access-Control-Request-Method", "PATCH")
      .set("Access-Control-Request-Headers", "authorization, idempotency-key, if-match")
      .expect(204);
    expect(preflight.headers["access-control-allow-origin"]).toBe("https://app.example.com");
    const allowed = preflight.headers["access-control-allow-headers"]?.toLowerCase() ?? "";
    for (const header of ["idempotency-key", "if-match", "if-none-match", "authorization"]) {
      expect(allowed).toContain(header);
    }
    const actual = await t.http.get("/healthz").set("Origin", "https://app.example.com").expect(200);
    const exposed = actual.headers["access-control-expose-headers"]?.toLowerCase() ?? "";
    for (const header of [
      "etag",
      "location",
      "ratelimit-limit",
      "ratelimit-remaining",
      "ratelimit-reset",
      "retry-after",
      "x-request-id",
    ]) {
      expect(exposed).toContain(header);
    }
    const foreign = await t.http.get("/healthz").set("Origin", "https://evil.example.net").expect(200);
    expect(foreign.headers["access-control-allow-origin"]).toBeUndefined();
  });
});

describe("health", () => {
  it("answers liveness and readiness", async () => {
    expect((await t.http.get("/healthz").expect(200)).body).toEqual({ status: "ok" });
    expect((await t.http.get("/readyz").expect(200)).body).toEqual({ status: "ok" });
  });
});

describe("logs", () => {
  it("are JSON lines with request ids and never carry passwords or tokens", async () => {
    const user = await registerUser(t, { password: "secret-password-123" });
    const refreshed = await t.http.post("/v1/auth/refresh").send({ refreshToken: user.refreshToken }).expect(200);
    await t.http.get("/v1/me").set(user.auth).expect(200);
    await t.http.get("/v1/me?ticket=abcdef123").set(user.auth);
    const text = t.logs.join("");
    for (const secret of [
      "secret-password-123",
      user.accessToken,
      user.refreshToken,
      refreshed.body.accessToken,
      refreshed.body.refreshToken,
      "abcdef123",
    ]) {
      expect(text).not.toContain(secret);
    }
    const lines = t.logs.map((line) => JSON.parse(line));
    expect(lines.some((line) => line.requestId && line.req?.url === "/v1/me")).toBe(true);
  });

  it("write one line per request, when it completes: request, status and time together", async () => {
    await t.http.get("/v1/nothing-here").set("X-Request-Id", "one-line-check").expect(404);
    const lines = t.logs.map((line) => JSON.parse(line)).filter((line) => line.requestId === "one-line-check");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      msg: "request completed",
      req: { method: "GET", url: "/v1/nothing-here" },
      res: { statusCode: 404 },
    });
    expect(typeof lines[0].responseTime).toBe("number");
  });
});
