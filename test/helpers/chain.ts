import { createHash } from "node:crypto";
import canonicalize from "canonicalize";

/** An event as the API (timeline, stream, export) shows it. */
export type TimelineEvent = {
  pairId: string;
  seq: number;
  type: string;
  actorId: string | null;
  subjectType: string;
  subjectId: string;
  payload: Record<string, unknown>;
  occurredAt: string;
  prevHash: string;
  hash: string;
};

/** `prevHash` of a pair's first event. */
export const GENESIS = "0".repeat(64);

/**
 * What docs/domain.md tells a front end to do, written independently of the
 * server's code: sha256(prevHash ‖ RFC 8785 JSON of the event without its
 * hashes, occurredAt in milliseconds).
 */
export function recomputeHash(event: TimelineEvent): string {
  const { prevHash, hash: _hash, occurredAt, ...rest } = event;
  const canonical = canonicalize({ ...rest, occurredAt: Date.parse(occurredAt) }) as string;
  return createHash("sha256")
    .update(prevHash + canonical, "utf8")
    .digest("hex");
}
