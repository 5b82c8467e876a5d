import type { boundaryStatuses } from "../../db/schema/boundaries.js";
import { AppError } from "../../errors/app-error.js";
import type { ErrorCode } from "../../errors/catalogue.js";

/**
 * The boundary's state as the rules see it: `revising` is an agreed
 * boundary with a pending revision (its stored status stays `agreed`).
 */
export type BoundaryState = "proposed" | "agreed" | "revising" | "declined" | "cancelled" | "withdrawn" | "ended";

export type BoundaryStatus = (typeof boundaryStatuses)[number];

/** Where every boundary starts: a proposal. The table's rows lead out of it. */
export const initialState = "proposed" satisfies BoundaryState;

/** The status a state is stored as: `revising` is an agreed boundary with a pending revision. */
export function statusOf(state: BoundaryState): BoundaryStatus {
  return state === "revising" ? "agreed" : state;
}

export type BoundaryAction =
  | "accept"
  | "decline"
  | "cancel"
  | "expire"
  | "proposeRevision"
  | "acceptRevision"
  | "declineRevision"
  | "cancelRevision"
  | "withdraw"
  | "endTimeBox"
  | "endWithPair";

/**
 * Who may act. `proposer` and `other` are relative to what is being
 * answered: the boundary's proposal for accept/decline/cancel, the pending
 * revision for its accept/decline/cancel. `system` is the sweep or the pair
 * ending, never a request.
 */
export type Actor = "proposer" | "other" | "either" | "system";

export type Transition = { from: BoundaryState; action: BoundaryAction; to: BoundaryState; who: Actor };

/** The whole state machine: from-state × action → to-state, and who may do it. Anything else is refused. */
export const transitions: readonly Transition[] = [
  { from: "proposed", action: "accept", to: "agreed", who: "other" },
  { from: "proposed", action: "decline", to: "declined", who: "other" },
  { from: "proposed", action: "cancel", to: "cancelled", who: "proposer" },
  { from: "proposed", action: "expire", to: "cancelled", who: "system" },
  { from: "proposed", action: "endWithPair", to: "cancelled", who: "system" },
  { from: "agreed", action: "proposeRevision", to: "revising", who: "either" },
  { from: "agreed", action: "withdraw", to: "withdrawn", who: "either" },
  { from: "agreed", action: "endTimeBox", to: "ended", who: "system" },
  { from: "agreed", action: "endWithPair", to: "ended", who: "system" },
  { from: "revising", action: "acceptRevision", to: "agreed", who: "other" },
  { from: "revising", action: "declineRevision", to: "agreed", who: "other" },
  { from: "revising", action: "cancelRevision", to: "agreed", who: "proposer" },
  // These three cancel the pending revision first, in the same transaction.
  { from: "revising", action: "withdraw", to: "withdrawn", who: "either" },
  { from: "revising", action: "endTimeBox", to: "ended", who: "system" },
  { from: "revising", action: "endWithPair", to: "ended", who: "system" },
];

/** The code an action answers from a state the table does not allow it in. */
const refusedFrom: Record<BoundaryAction, ErrorCode> = {
  accept: "BOUNDARY_NOT_PROPOSED",
  decline: "BOUNDARY_NOT_PROPOSED",
  cancel: "BOUNDARY_NOT_PROPOSED",
  expire: "BOUNDARY_NOT_PROPOSED",
  proposeRevision: "BOUNDARY_NOT_AGREED",
  acceptRevision: "REVISION_NOT_PENDING",
  declineRevision: "REVISION_NOT_PENDING",
  cancelRevision: "REVISION_NOT_PENDING",
  withdraw: "BOUNDARY_NOT_AGREED",
  endTimeBox: "BOUNDARY_NOT_AGREED",
  endWithPair: "BOUNDARY_NOT_AGREED",
};

/** Where a more precise rule names the refusal. */
const refusedSpecially: Partial<Record<BoundaryState, Partial<Record<BoundaryAction, ErrorCode>>>> = {
  revising: { proposeRevision: "REVISION_PENDING" },
};

const refusedActor: Record<Exclude<Actor, "either">, ErrorCode> = {
  proposer: "NOT_PROPOSER",
  other: "OWN_PROPOSAL",
  // Never reached through the API: system actions have no route.
  system: "CONFLICT",
};

export function transitionOf(from: BoundaryState, action: BoundaryAction): Transition | undefined {
  return transitions.find((t) => t.from === from && t.action === action);
}

/**
 * The transition `action` makes from `from`, or a 409 with the rule's code.
 * `isProposer` says whether the caller proposed what is being answered
 * (null for system actions).
 */
export function decide<A extends BoundaryAction>(
  from: BoundaryState,
  action: A,
  isProposer: boolean | null,
): Transition & { action: A } {
  const transition = transitionOf(from, action) as (Transition & { action: A }) | undefined;
  if (!transition) throw new AppError(refusedSpecially[from]?.[action] ?? refusedFrom[action]);
  const allowed =
    transition.who === "either"
      ? isProposer !== null
      : transition.who === "system"
        ? isProposer === null
        : transition.who === "proposer"
          ? isProposer === true
          : isProposer === false;
  if (!allowed) throw new AppError(transition.who === "either" ? "CONFLICT" : refusedActor[transition.who]);
  return transition;
}
