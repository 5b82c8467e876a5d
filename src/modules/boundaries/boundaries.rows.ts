import { and, asc, eq, inArray } from "drizzle-orm";
import type { Executor } from "../../db/client.js";
import { boundaries, boundaryVersions } from "../../db/schema/boundaries.js";
import { notFound } from "../../errors/app-error.js";
import { isUuid } from "../../ids.js";
import type { BoundaryState } from "./boundaries.machine.js";
import { type Boundary, type BoundaryRevision, type ContentField, contentFields } from "./boundaries.schemas.js";

/** The rows of this module and how the API shows them. */

export type BoundaryRow = typeof boundaries.$inferSelect;
export type VersionRow = typeof boundaryVersions.$inferSelect;
export type Content = Pick<BoundaryRow, ContentField>;
/** A boundary row locked for a write, with its pending proposal or revision. */
export type Locked = { row: BoundaryRow; pending: VersionRow | undefined };
export type CloseCause = NonNullable<BoundaryRow["closeCause"]>;

const iso = (at: Date | null) => at?.toISOString() ?? null;
export const sameInstant = (a: Date | null, b: Date | null) => (a?.getTime() ?? null) === (b?.getTime() ?? null);

export function stateOf({ row, pending }: Locked): BoundaryState {
  return row.status === "agreed" && pending ? "revising" : row.status;
}

export function contentOf(row: Content): Content {
  return {
    title: row.title,
    text: row.text,
    category: row.category,
    startsAt: row.startsAt,
    endsAt: row.endsAt,
    reviewAt: row.reviewAt,
  };
}

export function changedFieldsOf(from: Content, to: Content): ContentField[] {
  return contentFields.filter((field) => {
    const a = from[field];
    const b = to[field];
    return a instanceof Date || b instanceof Date || a === null || b === null
      ? !sameInstant(a as Date | null, b as Date | null)
      : a !== b;
  });
}

function consentOf(version: VersionRow): { agreedBy: string; agreedAt: string } {
  if (!version.agreedBy || !version.agreedAt) throw new Error(`agreed version ${version.id} has no consent`);
  return { agreedBy: version.agreedBy, agreedAt: version.agreedAt.toISOString() };
}

export function toRevision(row: VersionRow): BoundaryRevision {
  return {
    boundaryId: row.boundaryId,
    version: row.version,
    status: row.status,
    title: row.title,
    text: row.text,
    category: row.category,
    startsAt: iso(row.startsAt),
    endsAt: iso(row.endsAt),
    reviewAt: iso(row.reviewAt),
    changedFields: row.changedFields as ContentField[],
    reason: row.reason,
    proposedBy: row.proposedBy,
    proposedAt: row.proposedAt.toISOString(),
  };
}

/** Boundaries of one pair as the API shows them: the agreed versions and the pending revision, read in one query. */
export async function toBoundaries(rows: BoundaryRow[], executor: Executor): Promise<Boundary[]> {
  const first = rows[0];
  if (!first) return [];
  const versionRows = await executor
    .select()
    .from(boundaryVersions)
    .where(
      and(
        eq(boundaryVersions.pairId, first.pairId),
        inArray(
          boundaryVersions.boundaryId,
          rows.map((r) => r.id),
        ),
        inArray(boundaryVersions.status, ["agreed", "pending"]),
      ),
    )
    .orderBy(asc(boundaryVersions.version));
  return rows.map((row) => {
    const own = versionRows.filter((v) => v.boundaryId === row.id);
    // A proposal's own pending row is the proposal itself, not a revision.
    const pending = row.status === "agreed" ? own.find((v) => v.status === "pending") : undefined;
    return {
      id: row.id,
      pairId: row.pairId,
      status: row.status,
      version: row.version,
      rowVersion: row.rowVersion,
      title: row.title,
      text: row.text,
      category: row.category,
      startsAt: iso(row.startsAt),
      endsAt: iso(row.endsAt),
      reviewAt: iso(row.reviewAt),
      proposedBy: row.proposedBy,
      pendingRevision: pending ? toRevision(pending) : null,
      versions: own
        .filter((v) => v.status === "agreed")
        .map((v) => ({
          version: v.version,
          title: v.title,
          text: v.text,
          category: v.category,
          startsAt: iso(v.startsAt),
          endsAt: iso(v.endsAt),
          reviewAt: iso(v.reviewAt),
          changedFields: v.changedFields as ContentField[],
          reason: v.reason,
          proposedBy: v.proposedBy,
          proposedAt: v.proposedAt.toISOString(),
          ...consentOf(v),
        })),
      closure:
        row.closeCause && row.closedAt
          ? { cause: row.closeCause, by: row.closedBy, at: row.closedAt.toISOString(), reason: row.closeReason }
          : null,
      createdAt: row.createdAt.toISOString(),
      updatedAt: row.updatedAt.toISOString(),
    };
  });
}

/** One boundary of a pair as the API shows it; 404 for a malformed id or another pair's. */
export async function readBoundary(executor: Executor, pairId: string, id: string): Promise<Boundary> {
  if (!isUuid(id)) throw notFound("boundary");
  const rows = await executor
    .select()
    .from(boundaries)
    .where(and(eq(boundaries.pairId, pairId), eq(boundaries.id, id)));
  const [boundary] = await toBoundaries(rows, executor);
  if (!boundary) throw notFound("boundary");
  return boundary;
}
