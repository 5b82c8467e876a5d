import { createHash } from "node:crypto";
import { isIPv6 } from "node:net";
import type { Clock } from "../../clock.js";
import type { Executor } from "../../db/client.js";
import { AppError } from "../../errors/app-error.js";
import { type Bucket, type RateLimiter, type Reservation, secondsUntil } from "../../http/rate-limit.js";

const MINUTE = 60_000;
const ADDRESS_WINDOW_MS = 15 * MINUTE;
const ACCOUNT_WINDOW_MS = 60 * MINUTE;

export type SignInLimitsDeps = {
  limiter: Pick<RateLimiter, "reserve" | "release" | "hit" | "resetPrefix" | "remember" | "remembers">;
  clock: Clock;
  /** Password checks per account from one address, and per login for a re-check, per 15 minutes. */
  perAddress: number;
  /** Password checks per account from addresses it has not signed in from lately, per hour. */
  perAccount: number;
};

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * What a bound counts per: an IPv4 address, or an IPv6 /64 (one network;
 * a device's temporary addresses rotate inside it, and a guesser holding
 * a /64 holds 2^64 addresses).
 */
export function addressUnit(ip: string): string {
  const bare = ip.replace(/%.*$/, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped?.[1]) return mapped[1];
  if (!isIPv6(bare)) return bare;
  const [head = "", tail] = bare.split("::");
  const groupsOf = (part: string) => (part ? part.split(":") : []);
  // A trailing dotted quad stands for two groups.
  const width = (groups: string[]) => groups.reduce((n, g) => n + (g.includes(".") ? 2 : 1), 0);
  const groups =
    tail === undefined
      ? groupsOf(head)
      : [
          ...groupsOf(head),
          ...Array<string>(8 - width(groupsOf(head)) - width(groupsOf(tail))).fill("0"),
          ...groupsOf(tail),
        ];
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(":")}::/64`;
}

/**
 * The bounds on password checks (docs/api.md: Sign-in limits). Each attempt is
 * counted before its password is verified, so no more passwords are
 * verified per window than a bound allows, whatever the concurrency; a
 * right password gives its attempt back. Keys hold hashes of the email and
 * the address, never either itself.
 */
export function createSignInLimits(deps: SignInLimitsDeps) {
  const { limiter, clock } = deps;
  const emailKey = (email: string) => sha256(email.trim().toLowerCase());
  const addressKey = (address: string) => sha256(addressUnit(address));

  // Loose: stops guessing spread over many addresses.
  const perAccount = (email: string): Bucket => ({
    key: `login-failures:${emailKey(email)}`,
    limit: deps.perAccount,
    windowMs: ACCOUNT_WINDOW_MS,
  });
  // Tight: one address guessing one account.
  const perAddress = (email: string, address: string): Bucket => ({
    key: `login-failures:${emailKey(email)}:${addressKey(address)}`,
    limit: deps.perAddress,
    windowMs: ADDRESS_WINDOW_MS,
  });
  // A re-check answers to its own login only: another's failures never block it.
  const perLogin = (familyId: string): Bucket => ({
    key: `password-rechecks:${familyId}`,
    limit: deps.perAddress,
    windowMs: ADDRESS_WINDOW_MS,
  });
  const signedInFrom = (userId: string, address: string) => `signed-in:${userId}:${addressKey(address)}`;

  async function reserveOrThrottle(buckets: Bucket[]): Promise<Reservation[]> {
    const outcome = await limiter.reserve(buckets);
    if (outcome.reserved) return outcome.reservations;
    const retryAfter = secondsUntil(clock, outcome.full.resetAt);
    throw new AppError("ACCOUNT_THROTTLED", `Too many failed sign-ins; try again in ${retryAfter} s`, {
      headers: { "retry-after": String(retryAfter) },
    });
  }

  return {
    /**
     * Before a sign-in's password is verified. An address the account
     * signed in from lately answers only to its own bound, so guessers
     * elsewhere cannot lock the owner out from there; any other address
     * also counts against the account's.
     */
    async reserveSignIn(email: string, userId: string | undefined, address: string): Promise<Reservation[]> {
      // Asked for an unknown email too, so both cost the same queries.
      const known = await limiter.remembers(signedInFrom(userId ?? "no-such-account", address));
      return reserveOrThrottle(known ? [perAddress(email, address)] : [perAddress(email, address), perAccount(email)]);
    },

    /** Before a signed-in person's re-entered password is verified. */
    reserveRecheck: (familyId: string) => reserveOrThrottle([perLogin(familyId)]),

    /** A wrong re-entered password also counts as a failed sign-in from that address. */
    async recheckFailed(email: string, address: string): Promise<void> {
      await limiter.hit([perAddress(email, address)]);
    },

    /** The password was right, or never verified: those attempts were not failures. */
    release: (reservations: Reservation[]) => limiter.release(reservations),

    /** A proof of the password or of a live login (register, sign-in, refresh) from this address. */
    signedIn: (userId: string, address: string, executor?: Executor) =>
      limiter.remember(signedInFrom(userId, address), executor),

    /** Deleting the account: its counters and remembered addresses go too. */
    async forget(email: string, userId: string, executor: Executor): Promise<void> {
      await limiter.resetPrefix(`login-failures:${emailKey(email)}`, executor);
      await limiter.resetPrefix(`signed-in:${userId}:`, executor);
    },
  };
}

export type SignInLimits = ReturnType<typeof createSignInLimits>;
