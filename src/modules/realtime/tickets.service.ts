import { createHash, randomBytes } from "node:crypto";
import { and, eq, gt, isNull, lt, sql } from "drizzle-orm";
import type { Clock } from "../../clock.js";
import type { Db } from "../../db/client.js";
import { streamTickets } from "../../db/schema/realtime.js";
import { AppError } from "../../errors/app-error.js";
import type { Principal } from "../../http/principal.js";

export const TICKET_TTL_MS = 30_000;

const hashTicket = (ticket: string) => createHash("sha256").update(ticket).digest("hex");

export type StreamSubject = { userId: string; familyId: string; pairId: string };

export function createTicketsService(deps: {
  db: Db;
  clock: Clock;
  activePairOf: (userId: string) => Promise<string | null>;
}) {
  const { db, clock } = deps;
  return {
    /** A random ticket bound to the user, their login and their active pair; valid 30 s, once. */
    async issue(principal: Principal): Promise<{ ticket: string; expiresAt: string }> {
      const pairId = await deps.activePairOf(principal.id);
      if (!pairId) throw new AppError("NO_ACTIVE_PAIR");
      const ticket = randomBytes(32).toString("base64url");
      const now = clock.now();
      const expiresAt = new Date(now.getTime() + TICKET_TTL_MS);
      await db.insert(streamTickets).values({
        ticketHash: hashTicket(ticket),
        userId: principal.id,
        familyId: principal.familyId,
        pairId,
        createdAt: now,
        expiresAt,
      });
      return { ticket, expiresAt: expiresAt.toISOString() };
    },

    /** Uses a ticket up, atomically: a second use, an expired or unknown ticket answer undefined. */
    async redeem(ticket: string): Promise<StreamSubject | undefined> {
      const now = clock.now();
      const [row] = await db
        .update(streamTickets)
        .set({ usedAt: now })
        .where(
          and(
            eq(streamTickets.ticketHash, hashTicket(ticket)),
            isNull(streamTickets.usedAt),
            gt(streamTickets.expiresAt, now),
          ),
        )
        .returning();
      return row ? { userId: row.userId, familyId: row.familyId, pairId: row.pairId } : undefined;
    },

    /** Sweep: tickets live 30 s; drop them after a day. */
    async prune(now: Date): Promise<number> {
      const result = await db
        .delete(streamTickets)
        .where(lt(streamTickets.expiresAt, new Date(now.getTime() - 86_400_000)))
        .returning({ id: sql`1` });
      return result.length;
    },
  };
}

export type TicketsService = ReturnType<typeof createTicketsService>;
