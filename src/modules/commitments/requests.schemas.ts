import { z } from "zod";
import { pageSchema, paginationQuery } from "../../http/pagination.js";
import { categorySchema, commitmentFields, commitmentSchema } from "./commitments.schemas.js";

const instant = z.iso.datetime({ offset: true });
const requestStatuses = ["pending", "accepted", "declined", "cancelled", "expired"] as const;

export const createRequestBody = z.strictObject({ ...commitmentFields });
export const declineRequestBody = z.strictObject({ reason: z.string().trim().min(1).max(2000).optional() });

export const requestSchema = z
  .object({
    id: z.uuid(),
    pairId: z.uuid(),
    requesterId: z.uuid(),
    ownerId: z.uuid().describe("The member asked, who would own the commitment"),
    title: z.string(),
    details: z.string().nullable(),
    category: categorySchema,
    dueAt: instant,
    graceMinutes: z.number().int(),
    status: z.enum(requestStatuses),
    commitmentId: z.uuid().nullable(),
    reason: z.string().nullable().describe("Why it was declined, if the owner said"),
    answeredAt: instant.nullable(),
    version: z.number().int(),
    createdAt: instant,
    updatedAt: instant,
  })
  .meta({ id: "CommitmentRequest" });

export const acceptedRequestSchema = z
  .object({ request: requestSchema, commitment: commitmentSchema })
  .meta({ id: "AcceptedRequest" });

export const requestPageSchema = pageSchema(requestSchema).meta({ id: "CommitmentRequestPage" });

export const requestListQuery = z.strictObject({
  ...paginationQuery,
  status: z.enum(requestStatuses).optional(),
});

export const requestParams = z.object({ pairId: z.string().max(64), requestId: z.string().max(64) });

export type CommitmentRequest = z.infer<typeof requestSchema>;
export type CreateRequestInput = z.infer<typeof createRequestBody>;
