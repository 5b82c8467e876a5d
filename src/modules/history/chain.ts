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

/** `hash = sha256(prevHash ‖ canonical event)`, hex, over UTF-8. */
export function chainHash(prevHash: string, event: ChainedFields): string {
  return createHash("sha256").update(prevHash).update(canonicalEvent(event)).digest("hex");
}
