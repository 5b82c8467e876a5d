import { z } from "zod";
import { commitmentCategories, commitmentStatuses, commitmentTextFields } from "../../db/schema/commitments.js";
import { instant } from "../../http/instant.js";
import { pageSchema, paginationQuery } from "../../http/pagination.js";
import { recurrenceSchema } from "./recurrence.js";

const title = z.string().trim().min(1).max(200);
const details = z.string().trim().max(2000).nullable();
const note = z.string().trim().min(1).max(2000);
export const categorySchema = z
  .enum(commitmentCategories)
  .describe("time, communication, honesty, finances, household, social, care or other");
const graceMinutes = z
  .number()
  .int()
  .min(0)
  .max(1440)
  .describe("Minutes after dueAt before an unreported commitment lapses");

/** Fields shared by a commitment and a request for one. */
export const commitmentFields = {
  title,
  details: details.optional(),
  category: categorySchema.default("other"),
  dueAt: instant.describe("When it is due; must be in the future"),
  graceMinutes: graceMinutes.default(15),
};

export const createCommitmentBody = z.strictObject({
  ...commitmentFields,
  recurrence: recurrenceSchema
    .optional()
    .describe("Makes it recurring: a series starting at dueAt; the answer is its first occurrence"),
});

export const updateCommitmentBody = z
  .strictObject({ title: title.optional(), details: details.optional(), category: categorySchema.optional() })
  .refine((body) => Object.keys(body).length > 0, "name at least one field to change");

export const reportBody = z.strictObject({ outcome: z.enum(["kept", "missed"]), note: note.optional() });
export const disputeBody = z.strictObject({ note });
export const withdrawBody = z.strictObject({ reason: note });
export const rescheduleBody = z.strictObject({ dueAt: instant, reason: note.optional() });
export const acknowledgementBody = z.strictObject({
  text: note.describe("What happened, and what will change"),
});

export const commitmentSchema = z
  .object({
    id: z.uuid(),
    pairId: z.uuid(),
    ownerId: z.uuid(),
    title: z.string(),
    details: z.string().nullable(),
    category: categorySchema,
    dueAt: instant,
    graceMinutes: z.number().int(),
    seriesId: z.uuid().nullable(),
    requestId: z.uuid().nullable(),
    status: z.enum(commitmentStatuses),
    outcome: z.enum(["kept", "missed"]).nullable().describe("What the latest report says; null while unreported"),
    report: z
      .object({
        outcome: z.enum(["kept", "missed"]),
        note: z.string().nullable(),
        reportedAt: instant,
        timing: z
          .enum(["early", "onTime", "late"])
          .describe("Of the first report: before dueAt, within the grace, after it"),
      })
      .nullable(),
    confirmation: z
      .object({
        state: z.enum(["pending", "confirmed", "disputed"]),
        auto: z.boolean(),
        note: z.string().nullable(),
        at: instant.nullable(),
        dueAt: instant.nullable().describe("When a pending report is confirmed automatically"),
      })
      .nullable(),
    pendingReschedule: z.object({ dueAt: instant, reason: z.string().nullable(), proposedAt: instant }).nullable(),
    acknowledgement: z
      .object({
        text: z.string().nullable().describe("null once its author deleted their account"),
        acknowledgedAt: instant,
        acceptedAt: instant.nullable(),
      })
      .nullable(),
    withdrawal: z
      .object({
        reason: z.string().nullable(),
        cause: z.enum(["owner", "pair_ended", "series_ended"]),
        at: instant,
        noticeMinutes: z.number().int().describe("How long before dueAt it was withdrawn"),
      })
      .nullable(),
    lapsedAt: instant.nullable().describe("Set when it went unreported past dueAt + grace (kept after a late report)"),
    version: z.number().int(),
    createdAt: instant,
    updatedAt: instant,
  })
  .meta({ id: "Commitment" });

export const commitmentPageSchema = pageSchema(commitmentSchema).meta({ id: "CommitmentPage" });

export const commitmentListQuery = z.strictObject({
  ...paginationQuery,
  owner: z
    .union([z.enum(["me", "partner"]), z.uuid()])
    .optional()
    .describe("`me`, `partner` or a member's id"),
  status: z
    .string()
    .max(200)
    .transform((value) => value.split(",").filter(Boolean))
    .pipe(z.array(z.enum(commitmentStatuses)).min(1))
    .optional()
    .describe("Comma-separated statuses"),
  dueFrom: instant.optional().describe("dueAt ≥ this"),
  dueTo: instant.optional().describe("dueAt < this"),
  order: z.enum(["desc", "asc"]).default("desc").describe("By dueAt; newest due first by default"),
});

export const commitmentTextSchema = z
  .object({
    commitmentId: z.uuid(),
    n: z.number().int().describe("1, 2, … in the order written on this commitment"),
    field: z
      .enum(commitmentTextFields)
      .describe(
        "`title` or `details` (at creation and at each edit), a report's `reportNote`, a dispute's `disputeNote`",
      ),
    text: z
      .string()
      .nullable()
      .describe("null when there was no text (details left out, a report without a note) or it was erased"),
    salt: z
      .string()
      .nullable()
      .describe(
        "base64url of the random key of `hash`; null with no text, for an erased text, or before hashing began",
      ),
    hash: z
      .string()
      .nullable()
      .describe(
        "hex HMAC-SHA256 of the UTF-8 `text` keyed by the decoded `salt`: the value the event that wrote it carries in `textHashes`; kept when the text is erased",
      ),
    authorId: z.uuid(),
    writtenAt: instant,
    reportNumber: z
      .number()
      .int()
      .nullable()
      .describe("For report and dispute notes: which report (1 the first, 2 its first revision, …)"),
    outcome: z.enum(["kept", "missed"]).nullable().describe("For a report note: the outcome that report gave"),
    erased: z.boolean().describe("Its author deleted their account: `text` and `salt` are gone, `hash` stays"),
  })
  .meta({ id: "CommitmentText" });

export const commitmentTextPageSchema = pageSchema(commitmentTextSchema).meta({ id: "CommitmentTextPage" });

export const commitmentTextsQuery = z.strictObject(paginationQuery);

export const commitmentParams = z.object({ pairId: z.string().max(64), commitmentId: z.string().max(64) });

export type Commitment = z.infer<typeof commitmentSchema>;
export type CreateCommitmentInput = z.infer<typeof createCommitmentBody>;
export type UpdateCommitmentInput = z.infer<typeof updateCommitmentBody>;
export type CommitmentListQuery = z.infer<typeof commitmentListQuery>;
export type CommitmentText = z.infer<typeof commitmentTextSchema>;
