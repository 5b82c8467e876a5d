import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PasswordHasher } from "../../src/modules/auth/index.js";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { DAY, HOUR } from "../helpers/clock.js";
import { fastHasher } from "../helpers/fast-hasher.js";

/** Counts every password verification (the work a guesser gets out of the service). */
let verified = 0;
const countingHasher: PasswordHasher = {
  hash: (password) => fastHasher.hash(password),
  async verify(hash, password) {
    verified++;
    // Yield, so concurrent requests interleave around the verification as they would around argon2id.
    await new Promise((resolve) => setImmediate(resolve));
    return fastHasher.verify(hash, password);
  },
};

const PER_ADDRESS = 10;
const PER_ACCOUNT = 25;

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({
    passwordHasher: countingHasher,
    env: {
      KEPT_LOGIN_FAILURES_PER_ADDRESS: String(PER_ADDRESS),
      KEPT_LOGIN_FAILURES_PER_ACCOUNT: String(PER_ACCOUNT),
      KEPT_PASSWORD_HASH_QUEUE: "1000",
    },
  });
});
afterAll(() => t.close());

const OWNER = "198.51.100.7";
const attacker = (n: number) => `203.0.113.${n}`;
let accounts = 0;

type Account = { email: string; password: string; accessToken: string; refreshToken: string };

/** Requests from a chosen address (trustProxy is off: the socket's address is the client's). */
function post(url: string, payload: object, remoteAddress: string, accessToken?: string) {
  return t.app.inject({
    method: "POST",
    url,
    payload,
    remoteAddress,
    headers: accessToken ? { authorization: `Bearer ${accessToken}` } : {},
  });
}

const login = (email: string, password: string, address: string) =>
  post("/v1/auth/login", { email, password }, address);

async function register(address = OWNER): Promise<Account> {
  const email = `person-${++accounts}-${randomBytes(3).toString("hex")}@example.com`;
  const password = "correct horse battery";
  const response = await post("/v1/auth/register", { email, password, displayName: "P", timeZone: "UTC" }, address);
  expect(response.statusCode).toBe(201);
  const { accessToken, refreshToken } = response.json();
  return { email, password, accessToken, refreshToken };
}

function statuses(responses: { statusCode: number }[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const r of responses) counts[r.statusCode] = (counts[r.statusCode] ?? 0) + 1;
  return counts;
}

/** `count` wrong passwords at once, spread round-robin over `addresses`. */
function guesses(email: string, count: number, addresses: string[]) {
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      login(email, `wrong guess ${i}`, addresses[i % addresses.length] as string),
    ),
  );
}

describe("signing in: each attempt is counted before its password is verified", () => {
  it("of 40 concurrent wrong passwords from one address, exactly the limit are verified; the right one is then refused too", async () => {
    const owner = await register();
    verified = 0;
    const answers = await guesses(owner.email, 40, [attacker(1)]);
    expect(statuses(answers)).toEqual({ 401: PER_ADDRESS, 429: 40 - PER_ADDRESS });
    expect(verified).toBe(PER_ADDRESS);

    const right = await login(owner.email, owner.password, attacker(1));
    expect(right.statusCode).toBe(429);
    expect(right.json().code).toBe("ACCOUNT_THROTTLED");
    expect(Number(right.headers["retry-after"])).toBeGreaterThan(0);
    expect(verified).toBe(PER_ADDRESS);
  });

  it("spread over many addresses, the account's bound caps what is verified, whatever the concurrency", async () => {
    const owner = await register();
    const addresses = Array.from({ length: 12 }, (_, i) => attacker(20 + i));
    verified = 0;
    // 5 per address: no address reaches its own bound, the account's stops them.
    const answers = await guesses(owner.email, 60, addresses);
    expect(statuses(answers)).toEqual({ 401: PER_ACCOUNT, 429: 60 - PER_ACCOUNT });
    expect(verified).toBe(PER_ACCOUNT);
    // A new address is refused without a verification, even with the right password.
    const fresh = await login(owner.email, owner.password, attacker(99));
    expect(fresh.statusCode).toBe(429);
    expect(Number(fresh.headers["retry-after"])).toBeLessThanOrEqual(3600);
    expect(verified).toBe(PER_ACCOUNT);
  });

  it("a right password gives its attempt back: only failures use up the bound", async () => {
    const owner = await register();
    for (let i = 0; i < PER_ADDRESS - 1; i++) expect((await login(owner.email, "wrong", OWNER)).statusCode).toBe(401);
    expect((await login(owner.email, owner.password, OWNER)).statusCode).toBe(200);
    expect((await login(owner.email, "wrong", OWNER)).statusCode).toBe(401);
    expect((await login(owner.email, owner.password, OWNER)).statusCode).toBe(429);
  });

  it("counts an unknown email like a real one", async () => {
    verified = 0;
    const answers = await guesses("nobody-here@example.com", 30, [attacker(2)]);
    expect(statuses(answers)).toEqual({ 401: PER_ADDRESS, 429: 30 - PER_ADDRESS });
    expect(verified).toBe(PER_ADDRESS);
  });

  it("counts an IPv6 network (/64) as one address", async () => {
    const owner = await register();
    await guesses(owner.email, PER_ADDRESS, ["2001:db8:1:2::a"]);
    expect((await login(owner.email, "wrong", "2001:db8:1:2:ffff:ffff:ffff:b")).statusCode).toBe(429);
    expect((await login(owner.email, "wrong", "2001:db8:1:3::a")).statusCode).toBe(401);
  });
});

describe("nobody can lock a person out", () => {
  it("failures from other addresses never block the owner's right password from their own address", async () => {
    const owner = await register();
    // One address past its bound, then the account's bound spent from many.
    await guesses(owner.email, 40, [attacker(3)]);
    await guesses(
      owner.email,
      60,
      Array.from({ length: 12 }, (_, i) => attacker(40 + i)),
    );
    expect((await login(owner.email, owner.password, attacker(60))).statusCode).toBe(429);

    const own = await login(owner.email, owner.password, OWNER);
    expect(own.statusCode).toBe(200);
  });

  it("an address is the owner's for 30 days after a sign-in or a refresh from it", async () => {
    const owner = await register();
    const cafe = "192.0.2.44";
    const refreshed = await post("/v1/auth/refresh", { refreshToken: owner.refreshToken }, cafe);
    expect(refreshed.statusCode).toBe(200);
    await guesses(
      owner.email,
      60,
      Array.from({ length: 12 }, (_, i) => attacker(70 + i)),
    );
    expect((await login(owner.email, owner.password, cafe)).statusCode).toBe(200);

    // The daily pruning of rate-limit windows keeps what it remembers for 30 days.
    t.clock.advance(29 * DAY);
    await t.app.sweeper.runOnce();
    await guesses(
      owner.email,
      60,
      Array.from({ length: 12 }, (_, i) => attacker(70 + i)),
    );
    expect((await login(owner.email, owner.password, cafe)).statusCode).toBe(200);

    // 31 days after that sign-in, with none from the café since, it is an address like any other.
    t.clock.advance(31 * DAY);
    await t.app.sweeper.runOnce();
    await guesses(
      owner.email,
      60,
      Array.from({ length: 12 }, (_, i) => attacker(70 + i)),
    );
    expect((await login(owner.email, owner.password, cafe)).statusCode).toBe(429);
    t.clock.advance(HOUR);
  });
});

describe("re-entering the password (change it, delete the account)", () => {
  const changePassword = (owner: Account, currentPassword: string, accessToken = owner.accessToken) =>
    post("/v1/me/password", { currentPassword, newPassword: "a brand new secret" }, OWNER, accessToken);

  it("of 40 concurrent wrong passwords with one token, exactly the limit are verified; another login of the person is not blocked", async () => {
    const owner = await register();
    const otherLogin = (await login(owner.email, owner.password, OWNER)).json();
    verified = 0;
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => changePassword(owner, `wrong ${i}`)));
    expect(statuses(answers)).toEqual({ 403: PER_ADDRESS, 429: 40 - PER_ADDRESS });
    expect(verified).toBe(PER_ADDRESS);
    expect((await changePassword(owner, owner.password)).statusCode).toBe(429);

    const fromTheOtherLogin = await changePassword(owner, owner.password, otherLogin.accessToken);
    expect(fromTheOtherLogin.statusCode).toBe(204);
  });

  it("deleting the account: the same bound, counted before verifying", async () => {
    const owner = await register();
    verified = 0;
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        t.app.inject({
          method: "DELETE",
          url: "/v1/me",
          payload: { password: `wrong ${i}` },
          remoteAddress: OWNER,
          headers: { authorization: `Bearer ${owner.accessToken}` },
        }),
      ),
    );
    expect(statuses(answers)).toEqual({ 403: PER_ADDRESS, 429: 40 - PER_ADDRESS });
    expect(verified).toBe(PER_ADDRESS);
  });

  it("the partner's failed sign-ins on my email never block my password change, my deletion or my sign-in", async () => {
    const owner = await register();
    const partner = "192.0.2.10";
    await guesses(owner.email, 40, [partner]);
    await guesses(
      owner.email,
      60,
      Array.from({ length: 12 }, (_, i) => attacker(100 + i)),
    );

    expect((await changePassword(owner, owner.password)).statusCode).toBe(204);
    const signedIn = await login(owner.email, "a brand new secret", OWNER);
    expect(signedIn.statusCode).toBe(200);
    const deleted = await t.app.inject({
      method: "DELETE",
      url: "/v1/me",
      payload: { password: "a brand new secret" },
      remoteAddress: OWNER,
      headers: { authorization: `Bearer ${signedIn.json().accessToken}` },
    });
    expect(deleted.statusCode).toBe(204);
  });

  it("deleting the account forgets its counters and the addresses it signed in from", async () => {
    const owner = await register();
    await guesses(owner.email, 3, [attacker(5)]);
    const { id } = (await login(owner.email, owner.password, OWNER)).json().user;
    const emailHash = createHash("sha256").update(owner.email.toLowerCase()).digest("hex");
    const keysOf = async () =>
      (await t.database.pool.query<{ key: string }>("SELECT key FROM rate_limit_buckets")).rows
        .map((r) => r.key)
        // (The per-request counters keyed by the user id are not the sign-in limits' and expire within a day.)
        .filter((key) => key.includes(`signed-in:${id}`) || key.includes(emailHash));
    expect(await keysOf()).not.toEqual([]);
    const deleted = await t.app.inject({
      method: "DELETE",
      url: "/v1/me",
      payload: { password: owner.password },
      remoteAddress: OWNER,
      headers: { authorization: `Bearer ${owner.accessToken}` },
    });
    expect(deleted.statusCode).toBe(204);
    expect(await keysOf()).toEqual([]);
  });
});
