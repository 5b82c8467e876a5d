import { and, desc, eq, lt, lte } from "drizzle-orm";
import { z } from "zod";
import type { Clock } from "../../clock.js";
import type { Db, Tx } from "../../db/client.js";
import { commitmentRequests } from "../../db/schema/commitments.js";
import { AppError, notFound } from "../../errors/app-error.js";
import { assertVersion } from "../../http/etag.js";
import { decodeCursor, type Page, pageOf } from "../../http/pagination.js";
import type { Principal } from "../../http/principal.js";
import { isUuid, uuidv7 } from "../../ids.js";
import type { Commitment } from "./commitments.schemas.js";
import { type CommitmentsService, toCommitment } from "./commitments.service.js";
import type { CommitmentEventType, PairWork } from "./pair-work.js";
import type { CommitmentRequest, CreateRequestInput } from "./requests.schemas.js";

type Row = typeof commitmentRequests.$inferSelect;

export function toRequest(row: Row): CommitmentRequest {
  return {
    id: row.id,
    pairId: row.pairId,
    requesterId: row.requesterId,
    ownerId: row.ownerId,
    title: row.title,
    details: row.details,
    category: row.category,
    dueAt: row.dueAt.toISOString(),
    graceMinutes: row.graceMinutes,
    status: row.status,
    commitmentId: row.commitmentId,
    reason: row.reason,
    answeredAt: row.answeredAt?.toISOString() ?? null,
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

const listCursor = z.tuple([z.uuid()]);

export type RequestsServiceDeps = PairWork & { db: Db; clock: Clock; commitments: CommitmentsService };

/**
 * Requests: the partner asks, the other member answers. A request never
 * binds anyone: only accepting it creates a commitment, owned by the one
 * who accepted.
 */
export function createRequestsService(deps: RequestsServiceDeps) {
  const { db, clock, pairs, history } = deps;

  async function record(
    tx: Tx,
    row: Row,
    type: CommitmentEventType,
    actorId: string | null,
    payload: Record<string, unknown> = {},
  ) {
    await history.append(tx, {
      pairId: row.pairId,
      type,
      actorId,
      subjectType: "request",
      subjectId: row.id,
      payload: { requestId: row.id, ...payload },
    });
  }

  async function update(tx: Tx, row: Row, set: Partial<typeof commitmentRequests.$inferInsert>): Promise<Row> {
    const [updated] = await tx
      .update(commitmentRequests)
      .set({ ...set, version: row.version + 1, updatedAt: clock.now() })
      .where(and(eq(commitmentRequests.pairId, row.pairId), eq(commitmentRequests.id, row.id)))
      .returning();
    if (!updated) throw new Error("request vanished");
    return updated;
  }

  /** Pair first, then the request (404), If-Match (412), then the rules (409). */
  async function lockPending(
    tx: Tx,
    principal: Principal,
    pairId: string,
    requestId: string,
    expected: number | undefined,
    by: "owner" | "requester",
  ): Promise<Row> {
    const pair = await pairs.lockPair(tx, pairId, principal.id);
    const [row] = isUuid(requestId)
      ? await tx
          .select()
          .from(commitmentRequests)
          .where(and(eq(commitmentRequests.pairId, pairId), eq(commitmentRequests.id, requestId)))
          .for("update")
      : [];
    if (!row) throw notFound("request");
    assertVersion(expected, row.version);
    if (!pair.active) throw new AppError("PAIR_ENDED");
    if (by === "owner" && row.ownerId !== principal.id) throw new AppError("OWNER_ONLY");
    if (by === "requester" && row.requesterId !== principal.id) throw new AppError("REQUESTER_ONLY");
    if (row.status !== "pending") throw new AppError("REQUEST_NOT_PENDING");
    return row;
  }

  return {
    async create(tx: Tx, principal: Principal, pairId: string, input: CreateRequestInput): Promise<CommitmentRequest> {
      await pairs.lockForWrite(tx, pairId, principal.id);
      const ownerId = await pairs.partnerOf(pairId, principal.id, tx);
      if (!ownerId) throw new AppError("PAIR_ENDED");
      const dueAt = new Date(input.dueAt);
      deps.commitments.assertFuture(dueAt, "dueAt");
      const now = clock.now();
      const [row] = await tx
        .insert(commitmentRequests)
        .values({
          id: uuidv7(now),
          pairId,
          requesterId: principal.id,
          ownerId,
          title: input.title,
          details: input.details ?? null,
          category: input.category,
          dueAt,
          graceMinutes: input.graceMinutes,
          status: "pending",
          createdAt: now,
          updatedAt: now,
        })
        .returning();
      if (!row) throw new Error("insert returned no row");
      await record(tx, row, "request.created", principal.id, {
        ownerId,
        dueAt: dueAt.toISOString(),
        category: row.category,
      });
      return toRequest(row);
    },

    async get(pairId: string, requestId: string): Promise<CommitmentRequest> {
      if (!isUuid(requestId)) throw notFound("request");
      const [row] = await db
        .select()
        .from(commitmentRequests)
        .where(and(eq(commitmentRequests.pairId, pairId), eq(commitmentRequests.id, requestId)));
      if (!row) throw notFound("request");
      return toRequest(row);
    },

    async list(
      pairId: string,
      query: { limit: number; cursor?: string | undefined; status?: Row["status"] | undefined },
    ): Promise<Page<CommitmentRequest>> {
      const after = decodeCursor(query.cursor, listCursor);
      const rows = await db
        .select()
        .from(commitmentRequests)
        .where(
          and(
            eq(commitmentRequests.pairId, pairId),
            query.status ? eq(commitmentRequests.status, query.status) : undefined,
            after ? lt(commitmentRequests.id, after[0]) : undefined,
          ),
        )
        .orderBy(desc(commitmentRequests.id))
        .limit(query.limit + 1);
      const page = pageOf(rows, query.limit, (row) => [row.id]);
      return { data: page.data.map(toRequest), nextCursor: page.nextCursor };
    },

    /** The owner accepts: the commitment is created in the same transaction, linked both ways. */
    async accept(
      tx: Tx,
      principal: Principal,
      pairId: string,
      requestId: string,
      expected?: number,
    ): Promise<{ request: CommitmentRequest; commitment: Commitment }> {
      const row = await lockPending(tx, principal, pairId, requestId, expected, "owner");
      if (row.dueAt <= clock.now()) throw new AppError("REQUEST_EXPIRED");
      const commitment = await deps.commitments.insertCommitment(
        tx,
        pairId,
        principal.id,
        {
          title: row.title,
          details: row.details,
          category: row.category,
          dueAt: row.dueAt,
          graceMinutes: row.graceMinutes,
        },
        { requestId: row.id, actorId: principal.id },
      );
      const accepted = await update(tx, row, {
        status: "accepted",
        commitmentId: commitment.id,
        answeredAt: clock.now(),
      });
      await record(tx, accepted, "request.accepted", principal.id, { commitmentId: commitment.id });
      return { request: toRequest(accepted), commitment: toCommitment(commitment) };
    },

    async decline(
      tx: Tx,
      principal: Principal,
      pairId: string,
      requestId: string,
      reason: string | undefined,
      expected?: number,
    ): Promise<CommitmentRequest> {
      const row = await lockPending(tx, principal, pairId, requestId, expected, "owner");
      const declined = await update(tx, row, { status: "declined", reason: reason ?? null, answeredAt: clock.now() });
      await record(tx, declined, "request.declined", principal.id);
      return toRequest(declined);
    },

    async cancel(
      tx: Tx,
      principal: Principal,
      pairId: string,
      requestId: string,
      expected?: number,
    ): Promise<CommitmentRequest> {
      const row = await lockPending(tx, principal, pairId, requestId, expected, "requester");
      const cancelled = await update(tx, row, { status: "cancelled", answeredAt: clock.now() });
      await record(tx, cancelled, "request.cancelled", principal.id, { cause: "requester" });
      return toRequest(cancelled);
    },

    /** Leaving the pair: every pending request is cancelled, in the leave transaction. */
    async cancelPending(tx: Tx, pairId: string, actorId: string): Promise<void> {
      const rows = await tx
        .select()
        .from(commitmentRequests)
        .where(and(eq(commitmentRequests.pairId, pairId), eq(commitmentRequests.status, "pending")))
        .orderBy(commitmentRequests.id)
        .for("update");
      for (const row of rows) {
        const cancelled = await update(tx, row, { status: "cancelled", answeredAt: clock.now() });
        await record(tx, cancelled, "request.cancelled", actorId, { cause: "pair_ended" });
      }
    },

    /** Sweep: a request still pending at its proposed due time expires. */
    async expire(now: Date): Promise<number> {
      const candidates = await db
        .select({ id: commitmentRequests.id, pairId: commitmentRequests.pairId })
        .from(commitmentRequests)
        .where(and(eq(commitmentRequests.status, "pending"), lte(commitmentRequests.dueAt, now)))
        .limit(500);
      return deps.perPair(candidates, async (tx, c) => {
        const [row] = await tx
          .select()
          .from(commitmentRequests)
          .where(
            and(
              eq(commitmentRequests.pairId, c.pairId),
              eq(commitmentRequests.id, c.id),
              eq(commitmentRequests.status, "pending"),
            ),
          )
          .for("update", { skipLocked: true });
        if (row?.status !== "pending" || row.dueAt > now) return false;
        const expired = await update(tx, row, { status: "expired", answeredAt: now });
        await record(tx, expired, "request.expired", null);
        return true;
      });
    },
  };
}

export type RequestsService = ReturnType<typeof createRequestsService>;
