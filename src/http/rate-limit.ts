import { sql } from "drizzle-orm";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { BoundedMap } from "../bounded-map.js";
import type { Clock } from "../clock.js";
import type { Db, Executor } from "../db/client.js";
import { AppError } from "../errors/app-error.js";

export type Bucket = { key: string; limit: number; windowMs: number };
export type BucketState = { key: string; limit: number; count: number; resetAt: Date };

/**
 * Fixed-window counters in PostgreSQL, so every instance counts the same
 * requests. One statement per request, whatever the number of buckets.
 */
export type RateLimiter = {
  hit(buckets: Bucket[]): Promise<BucketState[]>;
  /** Current count without adding to it (0 when the window has passed). */
  peek(bucket: Bucket): Promise<BucketState>;
  /**
   * Counts one attempt in each bucket, in order, only while it is under its
   * limit (one conditional upsert each, so concurrent callers never pass a
   * limit). Stops at the first full bucket and gives back what it took there.
   */
  reserve(buckets: Bucket[]): Promise<Reserved>;
  /** Gives reserved attempts back (if their window is still the current one). */
  release(reservations: Reservation[]): Promise<void>;
  /** Forgets a bucket (`executor`: inside the caller's transaction). */
  reset(key: string, executor?: Executor): Promise<void>;
  /** Forgets every bucket and remembered key that starts with `prefix`. */
  resetPrefix(prefix: string, executor?: Executor): Promise<void>;
  /** Remembers that `key` happened now, for REMEMBERED_FOR_MS (not a count). */
  remember(key: string, executor?: Executor): Promise<void>;
  /** Whether `key` was remembered within the last REMEMBERED_FOR_MS. */
  remembers(key: string): Promise<boolean>;
};

/** One attempt counted in one bucket's window, which `release` can give back. */
export type Reservation = { key: string; windowStart: Date };
export type Reserved = { reserved: true; reservations: Reservation[] } | { reserved: false; full: BucketState };

/** How long `remember` keeps a key (an address a person signed in from, say). */
export const REMEMBERED_FOR_MS = 30 * 86_400_000;
/** Remembered keys share the table with the counters, under this prefix. */
const REMEMBERED_PREFIX = "remembered:";

const windowStart = (now: Date, windowMs: number) => new Date(Math.floor(now.getTime() / windowMs) * windowMs);

/** The upsert for `n` buckets; a named statement, so each connection parses and plans it once. */
const hitStatements = new Map<number, { name: string; text: string }>();
function hitStatement(n: number): { name: string; text: string } {
  let statement = hitStatements.get(n);
  if (!statement) {
    const values = Array.from({ length: n }, (_, i) => `($${2 * i + 1}, $${2 * i + 2}::timestamptz, 1)`);
    statement = {
      name: `rate_limit_hit_${n}`,
      text: `INSERT INTO rate_limit_buckets AS b (key, window_start, count)
        VALUES ${values.join(", ")}
        ON CONFLICT (key) DO UPDATE SET
          count = CASE WHEN b.window_start = excluded.window_start THEN b.count + 1 ELSE 1 END,
          window_start = excluded.window_start
        RETURNING key, count`,
    };
    hitStatements.set(n, statement);
  }
  return statement;
}

/** Adds one unless the window's count is at the limit; answers no row when it is (or the row is in a later window and full). */
const reserveStatement = {
  name: "rate_limit_reserve",
  text: `INSERT INTO rate_limit_buckets AS b (key, window_start, count) VALUES ($1, $2::timestamptz, 1)
    ON CONFLICT (key) DO UPDATE SET
      count = CASE WHEN b.window_start >= excluded.window_start THEN b.count + 1 ELSE 1 END,
      window_start = GREATEST(b.window_start, excluded.window_start)
    WHERE b.window_start < excluded.window_start OR b.count < $3
    RETURNING count`,
};

/** The key of a person's bucket under a policy: HTTP requests and stream resumes share it. */
export const accountBucketKey = (policy: string, userId: string) => `${policy}:user:${userId}`;

export function createRateLimiter(db: Db, clock: Clock): RateLimiter {
  const release = async (reservations: Reservation[], executor: Executor = db) => {
    for (const r of reservations) {
      await executor.execute(
        sql`UPDATE rate_limit_buckets SET count = count - 1
            WHERE key = ${r.key} AND window_start = ${r.windowStart.toISOString()}::timestamptz AND count > 0`,
      );
    }
  };
  return {
    async hit(buckets) {
      if (buckets.length === 0) return [];
      const now = clock.now();
      // Every request runs this: straight to the pool, without building it each time.
      const result = await db.$client.query<{ key: string; count: number }>({
        ...hitStatement(buckets.length),
        values: buckets.flatMap((b) => [b.key, windowStart(now, b.windowMs).toISOString()]),
      });
      const counts = new Map(result.rows.map((row) => [row.key, Number(row.count)]));
      return buckets.map((b) => ({
        key: b.key,
        limit: b.limit,
        count: counts.get(b.key) ?? 1,
        resetAt: new Date(windowStart(now, b.windowMs).getTime() + b.windowMs),
      }));
    },
    async peek(bucket) {
      const now = clock.now();
      const start = windowStart(now, bucket.windowMs);
      const result = await db.execute<{ count: number }>(
        sql`SELECT count FROM rate_limit_buckets WHERE key = ${bucket.key} AND window_start = ${start.toISOString()}::timestamptz`,
      );
      return {
        key: bucket.key,
        limit: bucket.limit,
        count: Number(result.rows[0]?.count ?? 0),
        resetAt: new Date(start.getTime() + bucket.windowMs),
      };
    },
    async reserve(buckets) {
      const now = clock.now();
      const reservations: Reservation[] = [];
      for (const b of buckets) {
        const start = windowStart(now, b.windowMs);
        const result = await db.$client.query<{ count: number }>({
          ...reserveStatement,
          values: [b.key, start.toISOString(), b.limit],
        });
        if (result.rows.length === 0) {
          await release(reservations);
          const resetAt = new Date(start.getTime() + b.windowMs);
          return { reserved: false, full: { key: b.key, limit: b.limit, count: b.limit, resetAt } };
        }
        reservations.push({ key: b.key, windowStart: start });
      }
      return { reserved: true, reservations };
    },
    release: (reservations) => release(reservations),
    async reset(key, executor = db) {
      await executor.execute(sql`DELETE FROM rate_limit_buckets WHERE key = ${key}`);
    },
    async resetPrefix(prefix, executor = db) {
      await executor.execute(
        sql`DELETE FROM rate_limit_buckets WHERE starts_with(key, ${prefix}) OR starts_with(key, ${REMEMBERED_PREFIX + prefix})`,
      );
    },
    async remember(key, executor = db) {
      // window_start holds the moment itself; pruning keeps these rows REMEMBERED_FOR_MS.
      await executor.execute(
        sql`INSERT INTO rate_limit_buckets (key, window_start, count)
            VALUES (${REMEMBERED_PREFIX + key}, ${clock.now().toISOString()}::timestamptz, 0)
            ON CONFLICT (key) DO UPDATE SET window_start = GREATEST(rate_limit_buckets.window_start, excluded.window_start)`,
      );
    },
    async remembers(key) {
      const since = new Date(clock.now().getTime() - REMEMBERED_FOR_MS);
      const result = await db.execute(
        sql`SELECT 1 FROM rate_limit_buckets WHERE key = ${REMEMBERED_PREFIX + key} AND window_start > ${since.toISOString()}::timestamptz`,
      );
      return result.rows.length > 0;
    },
  };
}

/** How often an instance adds its requests to the shared counts (and learns the others'). */
export const RATE_LIMIT_SYNC_MS = 200;

/**
 * Per-request counting without a query per request. The first request of
 * a bucket in a window goes to PostgreSQL (so an instance starts from what
 * the others counted); later ones are counted here and added to the shared
 * row every RATE_LIMIT_SYNC_MS in one statement, which also answers the
 * shared total. Instances therefore agree to within one sync period.
 */
export type RequestCounter = {
  hit(buckets: Bucket[]): Promise<BucketState[]>;
  /** Adds what was counted here to the shared counts now (tests, shutdown). */
  sync(): Promise<void>;
  stop(): Promise<void>;
};

type LocalBucket = {
  windowStart: number;
  /** The shared total as last answered by PostgreSQL (this instance's synced requests included). */
  shared: number;
  /** Counted here, being added to the shared row right now. */
  syncing: number;
  /** Counted here, not yet sent. */
  pending: number;
};

const syncStatement = {
  name: "rate_limit_sync",
  text: `INSERT INTO rate_limit_buckets AS b (key, window_start, count)
    SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::int[])
    ON CONFLICT (key) DO UPDATE SET
      count = CASE WHEN b.window_start = excluded.window_start THEN b.count + excluded.count
                   WHEN b.window_start > excluded.window_start THEN b.count
                   ELSE excluded.count END,
      window_start = GREATEST(b.window_start, excluded.window_start)
    RETURNING key, window_start, count`,
};

export function createRequestCounter(db: Db, limiter: RateLimiter, clock: Clock, logger: Logger): RequestCounter {
  // Bounded against floods of addresses; an evicted bucket loses at most one sync period of counts.
  const local = new BoundedMap<string, LocalBucket>(100_000);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;

  async function syncOnce(): Promise<void> {
    timer = undefined;
    const sending = [...local].filter(([, bucket]) => bucket.pending > 0);
    if (sending.length === 0) return;
    const sent = sending.map(([key, bucket]) => {
      const count = bucket.pending;
      bucket.syncing += count;
      bucket.pending = 0;
      return { key, bucket, count };
    });
    try {
      const result = await db.$client.query<{ key: string; window_start: Date; count: number }>({
        ...syncStatement,
        values: [
          sent.map((s) => s.key),
          sent.map((s) => new Date(s.bucket.windowStart).toISOString()),
          sent.map((s) => s.count),
        ],
      });
      const totals = new Map(result.rows.map((row) => [row.key, row]));
      for (const { key, bucket, count } of sent) {
        bucket.syncing -= count;
        const total = totals.get(key);
        // Within a window the shared total only grows: an answer overtaken by a newer one changes nothing.
        if (total && new Date(total.window_start).getTime() === bucket.windowStart) {
          bucket.shared = Math.max(bucket.shared, Number(total.count));
        } else bucket.shared += count;
      }
    } catch (error) {
      // The database is away: keep counting here and send these with the next sync.
      for (const { bucket, count } of sent) {
        bucket.syncing -= count;
        bucket.pending += count;
      }
      if (stopped) return;
      logger.warn({ err: error }, "could not share rate-limit counts; retrying");
      schedule();
    }
  }

  function sync(): Promise<void> {
    running = running.then(syncOnce);
    return running;
  }

  function schedule(): void {
    if (timer || stopped) return;
    timer = setTimeout(() => void sync(), RATE_LIMIT_SYNC_MS);
    timer.unref();
  }

  return {
    async hit(buckets) {
      const now = clock.now();
      const unseen = buckets.filter(
        (b) => (local.get(b.key)?.windowStart ?? -1) < windowStart(now, b.windowMs).getTime(),
      );
      // First sight in this window: count it in PostgreSQL and start from the shared total.
      let fromDatabase = new Map<string, BucketState>();
      try {
        fromDatabase = new Map((await limiter.hit(unseen)).map((state) => [state.key, state]));
      } catch (error) {
        // The database is away: count these here from 0 and share them at a later sync, so the
        // limit still holds and a request that needs no query (readiness) still gets its answer.
        logger.warn({ err: error }, "could not read rate-limit counts; counting here");
      }
      return buckets.map((b) => {
        const start = windowStart(now, b.windowMs);
        const first = fromDatabase.get(b.key);
        let bucket = local.get(b.key);
        // A newer window replaces the bucket; a request that read the clock before it counts in it.
        if (!bucket || bucket.windowStart < start.getTime()) {
          bucket = { windowStart: start.getTime(), shared: 0, syncing: 0, pending: 0 };
          local.set(b.key, bucket);
        }
        // Two first requests may race: the later total wins, nothing counted here is dropped.
        if (first) bucket.shared = Math.max(bucket.shared, first.count);
        else bucket.pending++;
        if (bucket.pending > 0) schedule();
        return {
          key: b.key,
          limit: b.limit,
          count: bucket.shared + bucket.syncing + bucket.pending,
          resetAt: new Date(start.getTime() + b.windowMs),
        };
      });
    },
    sync,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await sync();
    },
  };
}

export const secondsUntil = (clock: Clock, at: Date) =>
  Math.max(1, Math.ceil((at.getTime() - clock.now().getTime()) / 1000));

/** Routes choose a policy in `config.rateLimit`: stricter on auth, none for health checks. */
export type RateLimitPolicy = "default" | "auth" | "none";

/** A route's own budget per account, on top of its policy's (exports: a few an hour). */
export type AccountBudget = { name: string; limit: number; windowMs: number };

declare module "fastify" {
  interface FastifyContextConfig {
    rateLimit?: RateLimitPolicy;
    accountBudget?: AccountBudget;
  }
  interface FastifyRequest {
    /** The address's bucket, counted before authentication. */
    addressBudget: BucketState | undefined;
  }
}

export type RateLimitOptions = { perMinute: number; authPerMinute: number };

/**
 * Counts each request against its address before anything else (so a
 * request that fails authentication still spends the budget) and, once
 * authenticated, against its account; answers 429 with `Retry-After` past
 * either limit. The account is counted in `preParsing`, after
 * authentication and before the body is read.
 */
export function registerRateLimits(
  app: FastifyInstance,
  counter: RequestCounter,
  clock: Clock,
  options: RateLimitOptions,
): void {
  const policyOf = (request: FastifyRequest) => request.routeOptions.config?.rateLimit ?? "default";
  const perMinute = (policy: RateLimitPolicy) => (policy === "auth" ? options.authPerMinute : options.perMinute);

  // Reports the bucket closest to its limit; past it, 429.
  function answer(reply: FastifyReply, states: BucketState[]): void {
    const tightest = states.reduce((a, b) => (b.limit - b.count < a.limit - a.count ? b : a));
    const reset = secondsUntil(clock, tightest.resetAt);
    reply.header("ratelimit-limit", String(tightest.limit));
    reply.header("ratelimit-remaining", String(Math.max(0, tightest.limit - tightest.count)));
    reply.header("ratelimit-reset", String(reset));
    if (tightest.count > tightest.limit) {
      throw new AppError("RATE_LIMITED", `Too many requests; try again in ${reset} s`, {
        headers: { "retry-after": String(reset) },
      });
    }
  }

  app.decorateRequest("addressBudget", undefined);
  // What was counted here reaches the shared counts before the instance stops.
  app.addHook("onClose", async () => counter.stop());
  // Root hooks run before a route's own `onRequest` (authentication).
  app.addHook("onRequest", async (request: FastifyRequest, reply: FastifyReply) => {
    const policy = policyOf(request);
    if (policy === "none") return;
    const [address] = await counter.hit([
      { key: `${policy}:ip:${request.ip}`, limit: perMinute(policy), windowMs: 60_000 },
    ]);
    if (!address) return;
    request.addressBudget = address;
    answer(reply, [address]);
  });
  app.addHook("preParsing", async (request: FastifyRequest, reply: FastifyReply) => {
    const policy = policyOf(request);
    if (policy === "none" || !request.user || !request.addressBudget) return;
    const buckets: Bucket[] = [
      { key: accountBucketKey(policy, request.user.id), limit: perMinute(policy), windowMs: 60_000 },
    ];
    const budget = request.routeOptions.config?.accountBudget;
    if (budget) {
      buckets.push({
        key: accountBucketKey(budget.name, request.user.id),
        limit: budget.limit,
        windowMs: budget.windowMs,
      });
    }
    answer(reply, [request.addressBudget, ...(await counter.hit(buckets))]);
  });
}

/** Windows end within an hour; a day-old bucket is garbage, a remembered key once REMEMBERED_FOR_MS passed (sweep). */
export async function pruneRateLimitBuckets(db: Executor, now: Date): Promise<number> {
  const dayAgo = new Date(now.getTime() - 86_400_000).toISOString();
  const forgotten = new Date(now.getTime() - REMEMBERED_FOR_MS).toISOString();
  const result = await db.execute(
    sql`DELETE FROM rate_limit_buckets WHERE window_start < ${dayAgo}::timestamptz
        AND (NOT starts_with(key, ${REMEMBERED_PREFIX}) OR window_start < ${forgotten}::timestamptz)`,
  );
  return result.rowCount ?? 0;
}
