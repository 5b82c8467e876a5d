import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { and, eq, gt, sql } from "drizzle-orm";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Clock } from "../clock.js";
import type { Db, Executor, Tx } from "../db/client.js";
import { idempotencyKeys } from "../db/schema/index.js";
import { inTransaction } from "../db/transaction.js";
import { AppError } from "../errors/app-error.js";

export const IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60 * 1000;
const keyPattern = /^[\x21-\x7e]{1,255}$/;

/** What a write answers: status, body, and the headers worth replaying (ETag, Location). */
export type WriteResult<T> = {
  status: number;
  body: T;
  headers?: Record<string, string>;
  /** Effects outside the database (socket sends), run only once the change has committed. */
  afterCommit?: () => void;
};

export type RunWrite = {
  <T>(request: FastifyRequest, reply: FastifyReply, work: (tx: Tx) => Promise<WriteResult<T>>): Promise<FastifyReply>;
  /**
   * For a write that is exactly one SQL statement: without an
   * `Idempotency-Key` it runs on its own (PostgreSQL makes one statement
   * atomic), which saves the BEGIN and COMMIT round trips; with one, it runs
   * in the key's transaction like any write.
   */
  oneStatement<T>(
    request: FastifyRequest,
    reply: FastifyReply,
    work: (executor: Executor) => Promise<WriteResult<T>>,
  ): Promise<FastifyReply>;
};

function fingerprintOf(request: FastifyRequest): string {
  const parts = [
    request.method,
    request.routeOptions.url ?? request.url,
    canonicalize(request.params ?? {}),
    canonicalize(request.body ?? null),
  ];
  return createHash("sha256").update(parts.join("\n")).digest("hex");
}

/**
 * Runs one write in one transaction. With an `Idempotency-Key` the key row
 * is written in that same transaction, so a stored answer exists exactly
 * when the change committed. A transaction-scoped advisory lock on the key
 * makes a concurrent duplicate answer 409 instead of running twice. Failed
 * writes roll back and store nothing, so a retry with the same key runs
 * again (errors are never replayed).
 */
export function createWriteRunner(db: Db, clock: Clock): RunWrite {
  const runWrite = async <T>(
    request: FastifyRequest,
    reply: FastifyReply,
    work: (tx: Tx) => Promise<WriteResult<T>>,
  ): Promise<FastifyReply> => {
    const header = request.headers["idempotency-key"];
    const key = typeof header === "string" ? header : undefined;
    if (header !== undefined && (key === undefined || !keyPattern.test(key))) {
      throw new AppError("VALIDATION_FAILED", "Idempotency-Key must be 1 to 255 visible ASCII characters", {
        errors: [{ path: "headers.idempotency-key", message: "must be 1 to 255 visible ASCII characters" }],
      });
    }
    const userId = key ? request.user?.id : undefined;
    const fingerprint = userId ? fingerprintOf(request) : "";

    const outcome = await inTransaction(db, async (tx) => {
      if (key && userId) {
        const [lock] = (
          await tx.execute<{ locked: boolean }>(
            sql`SELECT pg_try_advisory_xact_lock(hashtextextended(${`idem:${userId}:${key}`}, 0)) AS locked`,
          )
        ).rows;
        if (!lock?.locked) throw new AppError("IDEMPOTENCY_KEY_IN_FLIGHT");
        const since = new Date(clock.now().getTime() - IDEMPOTENCY_RETENTION_MS);
        const [stored] = await tx
          .select()
          .from(idempotencyKeys)
          .where(
            and(eq(idempotencyKeys.userId, userId), eq(idempotencyKeys.key, key), gt(idempotencyKeys.createdAt, since)),
          );
        if (stored) {
          if (stored.fingerprint !== fingerprint) throw new AppError("IDEMPOTENCY_KEY_REUSED");
          return { replayed: true as const, status: stored.statusCode, body: stored.body, headers: stored.headers };
        }
      }
      const result = await work(tx);
      if (key && userId) {
        const row = {
          userId,
          key,
          fingerprint,
          statusCode: result.status,
          body: result.body ?? null,
          headers: result.headers ?? {},
          createdAt: clock.now(),
        };
        await tx
          .insert(idempotencyKeys)
          .values(row)
          .onConflictDoUpdate({ target: [idempotencyKeys.userId, idempotencyKeys.key], set: row });
      }
      return { replayed: false as const, ...result };
    });

    if (outcome.replayed) reply.header("idempotent-replayed", "true");
    else outcome.afterCommit?.();
    return send(reply, outcome);
  };
  return Object.assign(runWrite, {
    async oneStatement<T>(
      request: FastifyRequest,
      reply: FastifyReply,
      work: (executor: Executor) => Promise<WriteResult<T>>,
    ): Promise<FastifyReply> {
      if (request.headers["idempotency-key"] !== undefined) return runWrite(request, reply, work);
      const result = await work(db);
      result.afterCommit?.();
      return send(reply, result);
    },
  });
}

function send(reply: FastifyReply, result: Omit<WriteResult<unknown>, "afterCommit">): FastifyReply {
  if (result.headers) reply.headers(result.headers);
  reply.code(result.status);
  return result.body === undefined || result.status === 204 ? reply.send() : reply.send(result.body);
}

/** Drops stored answers older than the retention window (run by the sweep). */
export async function pruneIdempotencyKeys(db: Db, now: Date): Promise<number> {
  const result = await db.execute(
    sql`DELETE FROM idempotency_keys WHERE created_at < ${new Date(now.getTime() - IDEMPOTENCY_RETENTION_MS).toISOString()}::timestamptz`,
  );
  return result.rowCount ?? 0;
}

/**
 * Deleting an account: drops every stored answer of that user (they may
 * hold the profile), and any other user's stored answer that shows the
 * person as a member (a pair's members carry names). A retry of such a
 * request runs again.
 */
export async function forgetIdempotentAnswers(executor: Executor, userId: string): Promise<void> {
  await executor.execute(sql`
    DELETE FROM idempotency_keys
    WHERE user_id = ${userId}
       OR jsonb_path_exists(body, '$.** ? (@.userId == $id)', jsonb_build_object('id', ${userId}::text))`);
}
