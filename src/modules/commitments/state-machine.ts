import type { commitmentStatuses } from "../../db/schema/commitments.js";
import type { ErrorCode } from "../../errors/catalogue.js";

export type CommitmentStatus = (typeof commitmentStatuses)[number];

export type CommitmentAction =
  | "edit"
  | "report"
  | "confirm"
  | "dispute"
  | "withdraw"
  | "proposeReschedule"
  | "acceptReschedule"
  | "declineReschedule"
  | "cancelReschedule"
  | "acknowledge"
  | "acceptAcknowledgement";

type Rule = {
  /** Who may do it: the commitment's owner, or the other member. */
  by: "owner" | "partner";
  /** The states it applies to; anything else answers 409 `refused`. */
  from: CommitmentStatus[];
  refused: ErrorCode;
  /** The state it leads to (unchanged when absent). */
  to?: CommitmentStatus;
};

/**
 * The commitment state machine, in one place (docs/domain.md shows it).
 * Conditions that are not about the state (before the due time, a
 * proposal pending, a miss to acknowledge) are checked by the service with
 * their own codes; the sweep's transitions (lapse, auto-confirm,
 * reschedule expiry) have no caller and are not listed.
 */
export const commitmentRules: Record<CommitmentAction, Rule> = {
  edit: { by: "owner", from: ["open"], refused: "COMMITMENT_NOT_OPEN" },
  report: { by: "owner", from: ["open", "lapsed", "disputed"], to: "reported", refused: "NOT_REPORTABLE" },
  confirm: { by: "partner", from: ["reported", "disputed"], to: "confirmed", refused: "NOTHING_TO_CONFIRM" },
  dispute: { by: "partner", from: ["reported"], to: "disputed", refused: "NOTHING_TO_DISPUTE" },
  withdraw: { by: "owner", from: ["open"], to: "withdrawn", refused: "COMMITMENT_NOT_OPEN" },
  proposeReschedule: { by: "owner", from: ["open"], refused: "COMMITMENT_NOT_OPEN" },
  acceptReschedule: { by: "partner", from: ["open"], refused: "NO_PENDING_RESCHEDULE" },
  declineReschedule: { by: "partner", from: ["open"], refused: "NO_PENDING_RESCHEDULE" },
  cancelReschedule: { by: "owner", from: ["open"], refused: "NO_PENDING_RESCHEDULE" },
  acknowledge: {
    by: "owner",
    from: ["reported", "confirmed", "disputed", "lapsed"],
    refused: "NOTHING_TO_ACKNOWLEDGE",
  },
  acceptAcknowledgement: {
    by: "partner",
    from: ["reported", "confirmed", "disputed", "lapsed"],
    refused: "NO_ACKNOWLEDGEMENT",
  },
};
