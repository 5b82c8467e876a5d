import type { Executor } from "../../db/client.js";

/**
 * What the consistency figures, the trend and the inbox need from the
 * modules that own the data. Plain data only: the commitments and
 * boundaries modules answer these from their own tables (app.ts wires
 * them), and this module never reads those tables.
 */

/** Where a commitment stands for the figures (see docs/domain.md, "Consistency"). */
export type FigureClass = "kept" | "missed" | "lapsed" | "withdrawn" | "disputed" | "awaitingConfirmation" | "open";

/** Counts over the commitments of one owner (and one category, or all of them) in a window. */
export type CommitmentCounts = Record<FigureClass, number> & {
  /** Settled as kept or missed, with a report timed `early` or `onTime`. */
  reportedInTime: number;
  acknowledgedMisses: number;
  acknowledgementsAccepted: number;
  /** Trailing run of kept among settled commitments by (dueAt, id). */
  currentStreak: number;
  longestStreak: number;
};

/** One owner's counts; `category` null is every category together. */
export type CommitmentFigureRow = CommitmentCounts & { ownerId: string; category: string | null };

/** Settled counts of one owner in one bucket of the trend. */
export type BucketCounts = { kept: number; missed: number; lapsed: number };

export type BoundaryFigures = { agreed: number; revisions: number; withdrawn: number };

export type InboxItemType =
  | "report"
  | "reschedule"
  | "acknowledgement"
  | "request"
  | "boundaryProposal"
  | "boundaryRevision";

/** Something that awaits one member's answer. */
export type InboxItem = {
  type: InboxItemType;
  subjectType: "commitment" | "request" | "boundary";
  subjectId: string;
  /** The revision number, for `boundaryRevision`. */
  revision: number | null;
  /** When it started waiting for the answer. */
  since: Date;
  /** When it stops waiting by itself (auto-confirmation, expiry), if it does. */
  until: Date | null;
};

export type ConsistencySources = {
  /** The pair's members in a stable order (joined first), and whether it is still active. */
  membership(pairId: string, executor?: Executor): Promise<{ active: boolean; memberIds: string[] }>;
  /** Each member's zone in this pair (for an ended pair, as it was at the end). */
  timeZones(userIds: string[], pairId: string): Promise<Map<string, string>>;
  /** `since` null: every commitment; otherwise those with dueAt ≥ since. */
  commitmentFigures(pairId: string, since: Date | null): Promise<CommitmentFigureRow[]>;
  /** Counts of one owner's commitments per bucket [bounds[i], bounds[i+1]) of dueAt. */
  commitmentBuckets(pairId: string, ownerId: string, bounds: Date[]): Promise<BucketCounts[]>;
  boundaryFigures(pairId: string, since: Date | null): Promise<BoundaryFigures>;
  /** Each source answers what awaits `userId` in its own tables. */
  inbox: ((pairId: string, userId: string, now: Date) => Promise<InboxItem[]>)[];
};
