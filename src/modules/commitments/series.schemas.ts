import { z } from "zod";
import { categorySchema } from "./commitments.schemas.js";

const instant = z.iso.datetime({ offset: true });

export const seriesSchema = z
  .object({
    id: z.uuid(),
    pairId: z.uuid(),
    ownerId: z.uuid(),
    rrule: z.string().describe("The RRULE, in canonical spelling"),
    timeZone: z
      .string()
      .nullable()
      .describe(
        "The IANA zone the rule is evaluated in; null for the partner unless the owner shares their zone (`shareTimeZone`)",
      ),
    dtstart: instant.describe("The first occurrence's dueAt"),
    status: z.enum(["active", "ended"]),
    title: z.string(),
    details: z.string().nullable(),
    category: categorySchema,
    graceMinutes: z.number().int(),
    generatedUntil: instant.describe("Occurrences due before this instant exist as commitments"),
    createdAt: instant,
    endedAt: instant.nullable(),
  })
  .meta({ id: "Series" });

export const seriesParams = z.object({ pairId: z.string().max(64), seriesId: z.string().max(64) });

export type Series = z.infer<typeof seriesSchema>;
