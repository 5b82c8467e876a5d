import { createHash } from "node:crypto";
import canonicalize from "canonicalize";

/** `prevHash` of a pair's first event. */
export const GENESIS_HASH = "0".repeat(64);

/** The fields an event's hash covers (everything but `prevHash` and `hash` themselves). */
export type ChainedFields = {
  pairId: string;
  seq: number;
  type: string;
  actorId: string | null;
  subjectType: string;
  subjectId: string;
  payload: Record<string, unknown>;
  occurredAt: Date;
};

/**
 * RFC 8785 canonical JSON of an event, with `occurredAt` as Unix
 * milliseconds, so any client can recompute the hash byte for byte.
 */
export function canonicalEvent(event: ChainedFields): string {
  const text = canonicalize({
    pairId: event.pairId,
    seq: event.seq,
    type: event.type,
    actorId: event.actorId,
    subjectType: event.subjectType,
    subjectId: event.subjectId,
    payload: event.payload,
    occurredAt: event.occurredAt.getTime(),
  });
  if (text === undefined) throw new Error("event cannot be canonicalised");
  return text;
}

/**
 * The canonical event as the text around its `seq`: `before + seq + after`
 * is exactly `canonicalEvent(event)`. RFC 8785 sorts the keys, and `seq`
 * falls between `payload` and `subjectId`, so the appending statement can put
 * in the seq it draws from the chain head and hash the result in PostgreSQL.
 */
export function canonicalEventAround(event: Omit<ChainedFields, "seq">): { before: string; after: string } {
  const head = canonicalize({
    actorId: event.actorId,
    occurredAt: event.occurredAt.getTime(),
    pairId: event.pairId,
    payload: event.payload,
  });
  const tail = canonicalize({ subjectId: event.subjectId, subjectType: event.subjectType, type: event.type });
  if (head === undefined || tail === undefined) throw new Error("event cannot be canonicalised");
  return { before: `${head.slice(0, -1)},"seq":`, after: `,${tail.slice(1)}` };
}

/** `hash = sha256(prevHash ‖ canonical event)`, hex, over UTF-8. */
export function chainHash(prevHash: string, event: ChainedFields): string {
  return createHash("sha256").update(prevHash).update(canonicalEvent(event)).digest("hex");
}
