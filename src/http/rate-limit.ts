import { sql } from "drizzle-orm";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
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
  /** Forgets a bucket (`executor`: inside the caller's transaction). */
  reset(key: string, executor?: Executor): Promise<void>;
};

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

export function createRateLimiter(db: Db, clock: Clock): RateLimiter {
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
    async reset(key, executor = db) {
      await executor.execute(sql`DELETE FROM rate_limit_buckets WHERE key = ${key}`);
    },
  };
}

export const secondsUntil = (clock: Clock, at: Date) =>
  Math.max(1, Math.ceil((at.getTime() - clock.now().getTime()) / 1000));

/** Routes choose a policy in `config.rateLimit`: stricter on auth, none for health checks. */
export type RateLimitPolicy = "default" | "auth" | "none";

declare module "fastify" {
  interface FastifyContextConfig {
    rateLimit?: RateLimitPolicy;
  }
}

export type RateLimitOptions = { perMinute: number; authPerMinute: number };

/**
 * Counts each request against its address and, once authenticated, its
 * account; answers 429 with `Retry-After` past either limit. Runs in
 * `preParsing`, after authentication and before the body is read.
 */
export function registerRateLimits(
  app: FastifyInstance,
  limiter: RateLimiter,
  clock: Clock,
  options: RateLimitOptions,
): void {
  app.addHook("preParsing", async (request: FastifyRequest, reply: FastifyReply) => {
    const policy = request.routeOptions.config?.rateLimit ?? "default";
    if (policy === "none") return;
    const limit = policy === "auth" ? options.authPerMinute : options.perMinute;
    const buckets: Bucket[] = [{ key: `${policy}:ip:${request.ip}`, limit, windowMs: 60_000 }];
    if (request.user) buckets.push({ key: `${policy}:user:${request.user.id}`, limit, windowMs: 60_000 });
    const states = await limiter.hit(buckets);
    // Report the bucket closest to its limit.
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
  });
}

/** Windows end within a minute; a day-old bucket is garbage (sweep). */
export async function pruneRateLimitBuckets(db: Executor, now: Date): Promise<number> {
  const result = await db.execute(
    sql`DELETE FROM rate_limit_buckets WHERE window_start < ${new Date(now.getTime() - 86_400_000).toISOString()}::timestamptz`,
  );
  return result.rowCount ?? 0;
}
