import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { argon2idHasher, type PasswordHasher } from "../../src/modules/auth/index.js";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { registerUser } from "../helpers/users.js";

/** argon2id whose verifications wait until the test lets them go. */
function gatedHasher() {
  let release: () => void = () => {};
  let gate = Promise.resolve();
  let started = 0;
  const hasher: PasswordHasher = {
    hash: (password) => argon2idHasher.hash(password),
    async verify(hash, password) {
      started++;
      await gate;
      return argon2idHasher.verify(hash, password);
    },
  };
  return {
    hasher,
    close() {
      gate = new Promise((resolve) => {
        release = resolve;
      });
    },
    open: () => release(),
    started: () => started,
  };
}

describe("password hashing with no queue left", () => {
  const gated = gatedHasher();
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({
      passwordHasher: gated.hasher,
      env: { KEPT_PASSWORD_HASH_CONCURRENCY: "1", KEPT_PASSWORD_HASH_QUEUE: "0" },
    });
  });
  afterAll(() => t.close());

  it("turns further sign-ins away with 503 and Retry-After while the slots are busy", async () => {
    const user = await registerUser(t);
    gated.close();
    const login = () => t.http.post("/v1/auth/login").send({ email: user.email, password: user.password });
    const running = login().then((response) => response);
    while (gated.started() < 1) await new Promise((resolve) => setImmediate(resolve));
    const refused = await login();
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe("SERVER_BUSY");
    expect(refused.headers["retry-after"]).toBe("1");
    expect(gated.started()).toBe(1);
    gated.open();
    expect((await running).status).toBe(200);
  });
});

describe("password hashing under a burst", () => {
  let inFlight = 0;
  let mostAtOnce = 0;
  const counting: PasswordHasher = {
    hash: (password) => argon2idHasher.hash(password),
    async verify(hash, password) {
      mostAtOnce = Math.max(mostAtOnce, ++inFlight);
      try {
        return await argon2idHasher.verify(hash, password);
      } finally {
        inFlight--;
      }
    },
  };
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp({
      passwordHasher: counting,
      env: { KEPT_PASSWORD_HASH_CONCURRENCY: "2", KEPT_PASSWORD_HASH_QUEUE: "20" },
    });
  });
  afterAll(() => t.close());

  it("queues what exceeds the concurrency and serves it all", async () => {
    const user = await registerUser(t);
    const responses = await Promise.all(
      Array.from({ length: 8 }, () =>
        t.http.post("/v1/auth/login").send({ email: user.email, password: user.password }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(mostAtOnce).toBeLessThanOrEqual(2);
    expect(mostAtOnce).toBeGreaterThan(0);
  });
});

describe("an unexpected failure", () => {
  let t: TestApp;
  beforeAll(async () => {
    const broken: PasswordHasher = {
      hash: async () => {
        throw new Error("argon2 exploded at /internal/path.ts:42");
      },
      verify: async () => false,
    };
    t = await buildTestApp({ passwordHasher: broken });
  });
  afterAll(() => t.close());

  it("answers 500 INTERNAL without its message; the message goes to the log", async () => {
    const response = await t.http
      .post("/v1/auth/register")
      .send({ email: "boom@example.com", password: "correct horse", displayName: "B", timeZone: "UTC" })
      .expect(500);
    expect(response.body.code).toBe("INTERNAL");
    expect(JSON.stringify(response.body)).not.toContain("exploded");
    expect(t.logs.join("")).toContain("exploded");
  });
});
