import { and, eq } from "drizzle-orm";
import type { Tx } from "../../db/client.js";
import { boundaries, boundaryVersions } from "../../db/schema/boundaries.js";
import type { EventLog } from "../history/index.js";
import { type BoundaryAction, decide, statusOf, type Transition } from "./boundaries.machine.js";
import { type BoundaryRow, type CloseCause, type Locked, stateOf, type VersionRow } from "./boundaries.rows.js";

/** Every event this module appends (as `boundary.<type>`). */
export const boundaryEventTypes = [
  "proposed",
  "agreed",
  "declined",
  "cancelled",
  "revision_proposed",
  "revised",
  "revision_declined",
  "revision_cancelled",
  "withdrawn",
  "ended",
  "review_due",
] as const;
export type BoundaryEventType = (typeof boundaryEventTypes)[number];

/** A time box whose end has come: the sweep is about to end (or cancel) it, so nothing may extend it. */
export const timeBoxOver = (row: BoundaryRow, now: Date) => row.endsAt !== null && row.endsAt <= now;

export type BoundaryStoreDeps = { history: Pick<EventLog<`boundary.${BoundaryEventType}`>, "append"> };

/**
 * The writes every path shares (member actions, leaving, the sweep): locking
 * a boundary with its pending version, writing it in the state the table's
 * transition leads to, closing a pending version, appending its events. The
 * status of an existing boundary is written in one place, `enter`, from the
 * transition's `to`: nothing here or in the callers names a target state.
 */
export function createBoundaryStore({ history }: BoundaryStoreDeps) {
  /**
   * Locks the boundary row (its lock guards its versions too) and reads
   * its pending proposal or revision. `skip` is for the sweep: a row another
   * transaction holds is left for the next pass.
   */
  async function lockRow(tx: Tx, pairId: string, id: string, mode: "wait" | "skip"): Promise<Locked | undefined> {
    const query = tx
      .select()
      .from(boundaries)
      .where(and(eq(boundaries.pairId, pairId), eq(boundaries.id, id)));
    const [row] = mode === "skip" ? await query.for("update", { skipLocked: true }) : await query.for("update");
    if (!row) return undefined;
    const [pending] = await tx
      .select()
      .from(boundaryVersions)
      .where(
        and(
          eq(boundaryVersions.pairId, pairId),
          eq(boundaryVersions.boundaryId, id),
          eq(boundaryVersions.status, "pending"),
        ),
      );
    return { row, pending };
  }

  function pendingOf(locked: Locked): VersionRow {
    if (!locked.pending) throw new Error(`boundary ${locked.row.id} has no pending version`);
    return locked.pending;
  }

  /** Writes the boundary in the state `transition` leads to (and `changes`), a new row version. */
  async function enter(
    tx: Tx,
    row: BoundaryRow,
    transition: Transition,
    now: Date,
    changes: Omit<Partial<BoundaryRow>, "status"> = {},
  ): Promise<void> {
    await tx
      .update(boundaries)
      .set({ ...changes, status: statusOf(transition.to), rowVersion: row.rowVersion + 1, updatedAt: now })
      .where(and(eq(boundaries.pairId, row.pairId), eq(boundaries.id, row.id)));
  }

  async function updateVersion(tx: Tx, version: VersionRow, changes: Partial<VersionRow>): Promise<void> {
    await tx
      .update(boundaryVersions)
      .set(changes)
      .where(and(eq(boundaryVersions.pairId, version.pairId), eq(boundaryVersions.id, version.id)));
  }

  /** Closes the proposal (version 1) or the pending revision with `status`. */
  async function closePending(
    tx: Tx,
    pending: VersionRow,
    status: "declined" | "cancelled",
    by: string | null,
    now: Date,
    reason: string | null = null,
  ): Promise<void> {
    await updateVersion(tx, pending, { status, closedBy: by, closedAt: now, closeReason: reason });
  }

  /** Ids, states, numbers and field names only: titles, texts and reasons stay in the rows. */
  function appendEvent(
    tx: Tx,
    row: BoundaryRow,
    type: BoundaryEventType,
    actorId: string | null,
    payload: Record<string, unknown>,
  ) {
    return history.append(tx, {
      pairId: row.pairId,
      type: `boundary.${type}`,
      actorId,
      subjectType: "boundary",
      subjectId: row.id,
      payload,
    });
  }

  /**
   * The event of entering an agreed or a closed state, named after it
   * (`boundary.agreed`, `.declined`, `.cancelled`, `.withdrawn`, `.ended`),
   * its payload led by that status.
   */
  function appendEntered(
    tx: Tx,
    row: BoundaryRow,
    transition: Transition,
    actorId: string | null,
    payload: Record<string, unknown>,
  ) {
    const { to } = transition;
    if (to === "proposed" || to === "revising") throw new Error(`entering ${to} has no event of its own`);
    return appendEvent(tx, row, to, actorId, { status: to, ...payload });
  }

  /**
   * Withdrawing, a time box ending and the pair ending all cancel a pending
   * revision first (`boundary.revision_cancelled`), then retire the
   * boundary. One function, so the three paths cannot drift apart.
   */
  async function retire(
    tx: Tx,
    locked: Locked,
    transition: Transition & { action: Extract<BoundaryAction, "withdraw" | "endTimeBox" | "endWithPair"> },
    cause: CloseCause,
    by: string | null,
    now: Date,
    reason: string | null = null,
  ): Promise<void> {
    const { row } = locked;
    const { from, to } = transition;
    if (to !== "withdrawn" && to !== "ended" && to !== "cancelled") throw new Error(`cannot retire to ${to}`);
    if (from === "revising") {
      const pending = pendingOf(locked);
      await closePending(tx, pending, "cancelled", by, now);
      await appendEvent(tx, row, "revision_cancelled", by, {
        version: pending.version,
        status: "cancelled",
        cause,
      });
    }
    if (to === "cancelled") {
      // A proposal is cancelled, never withdrawn or ended.
      await closePending(tx, pendingOf(locked), "cancelled", by, now);
    }
    await enter(tx, row, transition, now, { closedAt: now, closedBy: by, closeCause: cause, closeReason: reason });
    await appendEntered(tx, row, transition, by, { version: row.version, cause });
  }

  /** The transition of a system action (the sweep, the pair ending) from the boundary's state, or a 409. */
  function decideForSystem<A extends BoundaryAction>(locked: Locked, action: A): Transition & { action: A } {
    return decide(stateOf(locked), action, null);
  }

  return {
    lockRow,
    pendingOf,
    enter,
    updateVersion,
    closePending,
    appendEvent,
    appendEntered,
    retire,
    decideForSystem,
  };
}

export type BoundaryStore = ReturnType<typeof createBoundaryStore>;
