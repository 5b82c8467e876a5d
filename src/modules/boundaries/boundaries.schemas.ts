import { z } from "zod";
import {
  boundaryCategories,
  boundaryCloseCauses,
  boundaryStatuses,
  boundaryVersionStatuses,
} from "../../db/schema/boundaries.js";
import { instant } from "../../http/instant.js";
import { pageSchema, paginationQuery } from "../../http/pagination.js";
import { pairParams } from "../../http/params.js";

const categorySchema = z.enum(boundaryCategories);
const title = z.string().trim().min(1).max(120);
const text = z.string().trim().min(1).max(2000);
const reason = z.string().trim().min(1).max(500);

export const contentFields = ["title", "text", "category", "startsAt", "endsAt", "reviewAt"] as const;
export type ContentField = (typeof contentFields)[number];

const timeBoxHolds = (body: { startsAt?: string | null | undefined; endsAt?: string | null | undefined }) =>
  !body.startsAt || !body.endsAt || Date.parse(body.endsAt) > Date.parse(body.startsAt);
const timeBoxMessage = { path: ["endsAt"], message: "must be after startsAt" };

export const proposeBoundaryBody = z
  .strictObject({
    title,
    text,
    category: categorySchema,
    startsAt: instant.optional().describe("Start of a time box (may be in the past)"),
    endsAt: instant
      .optional()
      .describe("End of a time box: must be in the future. A proposal not accepted by then is cancelled"),
    reviewAt: instant.optional().describe("When to revisit it: `boundary.review_due` is emitted once then"),
  })
  .refine(timeBoxHolds, timeBoxMessage);

export const proposeRevisionBody = z
  .strictObject({
    title: title.optional(),
    text: text.optional(),
    category: categorySchema.optional(),
    startsAt: instant.nullable().optional().describe("null removes it"),
    endsAt: instant.nullable().optional().describe("null removes the time box; a new value must be in the future"),
    reviewAt: instant.nullable().optional().describe("null removes it"),
    reason: reason.optional().describe("Why you propose the change (shown to both of you)"),
  })
  .refine((body) => contentFields.some((field) => body[field] !== undefined), "name at least one field to revise")
  .refine(timeBoxHolds, timeBoxMessage);

/** Answers may come without a body (Fastify then sees null); a body, if any, is still strict. */
export const declineBody = z.strictObject({ reason: reason.optional() }).nullish();
export { noBody as emptyBody } from "../../http/body.js";
export const withdrawBody = z.strictObject({ reason: reason.describe("Why you withdraw consent") });

const statusList = z
  .string()
  .max(200)
  .transform((value) => value.split(",").filter(Boolean))
  .pipe(z.array(z.enum(boundaryStatuses)).min(1).max(boundaryStatuses.length));
const categoryList = z
  .string()
  .max(200)
  .transform((value) => value.split(",").filter(Boolean))
  .pipe(z.array(categorySchema).min(1).max(boundaryCategories.length));

export const boundaryListQuery = z.strictObject({
  ...paginationQuery,
  status: statusList.optional().describe("Comma-separated statuses, e.g. `proposed,agreed`"),
  category: categoryList.optional().describe("Comma-separated categories"),
});

/** Path ids are checked by the service: a malformed id is a 404, like an id of another pair. */
export const boundaryParams = pairParams.extend({ id: z.string().max(64) });
export const revisionParams = boundaryParams.extend({
  n: z.string().max(16).describe("The version number the pending revision would become"),
});

const content = {
  title: z.string(),
  text: z.string(),
  category: categorySchema,
  startsAt: instant.nullable(),
  endsAt: instant.nullable(),
  reviewAt: instant.nullable(),
};

export const boundaryVersionSchema = z
  .object({
    version: z.number().int().min(1),
    ...content,
    changedFields: z.array(z.enum(contentFields)).describe("What this version changed (empty for version 1)"),
    reason: z.string().nullable().describe("Why the revision was proposed"),
    proposedBy: z.uuid(),
    proposedAt: instant,
    agreedBy: z.uuid().describe("The partner who consented"),
    agreedAt: instant,
  })
  .meta({ id: "BoundaryVersion", description: "An agreed version of a boundary" });

export const boundaryRevisionSchema = z
  .object({
    boundaryId: z.uuid(),
    version: z.number().int().min(2).describe("The version it becomes if accepted"),
    status: z.enum(boundaryVersionStatuses),
    ...content,
    changedFields: z.array(z.enum(contentFields)),
    reason: z.string().nullable(),
    proposedBy: z.uuid(),
    proposedAt: instant,
  })
  .meta({
    id: "BoundaryRevision",
    description: "A proposed change to an agreed boundary: the whole content it would have, and which fields change",
  });

export const boundaryClosureSchema = z
  .object({
    cause: z.enum(boundaryCloseCauses),
    by: z.uuid().nullable().describe("null when the sweep closed it"),
    at: instant,
    reason: z.string().nullable().describe("The person's own words, for a decline or a withdrawal"),
  })
  .meta({ id: "BoundaryClosure" });

export const boundarySchema = z
  .object({
    id: z.uuid(),
    pairId: z.uuid(),
    status: z.enum(boundaryStatuses),
    version: z.number().int().min(1).describe("The content version in force (for a proposal: 1)"),
    rowVersion: z
      .number()
      .int()
      .min(1)
      .describe('Moves on every change to this boundary, revisions included; the ETag is `"<rowVersion>"`'),
    ...content,
    proposedBy: z.uuid().describe("Who proposed the boundary"),
    pendingRevision: boundaryRevisionSchema.nullable(),
    versions: z.array(boundaryVersionSchema).describe("Agreed versions, oldest first"),
    closure: boundaryClosureSchema.nullable().describe("How it was declined, cancelled, withdrawn or ended"),
    createdAt: instant,
    updatedAt: instant,
  })
  .meta({ id: "Boundary" });

export const boundaryPageSchema = pageSchema(boundarySchema).meta({ id: "BoundaryPage" });

export type ProposeBoundaryInput = z.infer<typeof proposeBoundaryBody>;
export type ProposeRevisionInput = z.infer<typeof proposeRevisionBody>;
export type BoundaryListQuery = z.infer<typeof boundaryListQuery>;
export type Boundary = z.infer<typeof boundarySchema>;
export type BoundaryRevision = z.infer<typeof boundaryRevisionSchema>;
export type BoundaryVersion = z.infer<typeof boundaryVersionSchema>;
