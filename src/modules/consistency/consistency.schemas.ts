import { z } from "zod";
import { commitmentCategories } from "../commitments/index.js";

const instant = z.iso.datetime({ offset: true });
const count = z.number().int().min(0);
const rate = z.number().min(0).max(1).nullable();

export const windows = ["7d", "30d", "90d", "all"] as const;
export type Window = (typeof windows)[number];

export const consistencyQuery = z.strictObject({
  window: z
    .enum(windows)
    .default("30d")
    .describe("Commitments with dueAt ≥ now − N×24 h (future ones included); `all`: every one"),
});

export const trendQuery = z.strictObject({
  bucket: z.enum(["week"]).default("week").describe("Only weeks, for now"),
  weeks: z.coerce.number().int().min(1).max(104).default(12).describe("How many weeks, the current one last (1–104)"),
});

const countsShape = {
  kept: count.describe("Settled as kept: a kept report confirmed (by the partner or automatically)"),
  missed: count.describe("Settled as missed: a missed report confirmed"),
  lapsed: count.describe("Unreported past dueAt + grace (a late report counts here until it is confirmed)"),
  withdrawn: count.describe("Withdrawn before it was due (by the owner, a series ending or the pair ending)"),
  disputed: count.describe("The report is disputed; not in keptRate or streaks"),
  awaitingConfirmation: count.describe("The report awaits the partner's answer; not in keptRate or streaks"),
  open: count.describe("Not reported yet and not lapsed"),
  keptRate: rate.describe("kept ÷ (kept + missed + lapsed); null when that is 0"),
  onTimeReportRate: rate.describe("settled reports timed early or onTime ÷ (kept + missed + lapsed); null when 0"),
  currentStreak: count.describe("Kept in a row at the end of the settled commitments, by (dueAt, id)"),
  longestStreak: count.describe("The longest such run in the window"),
  acknowledgedMisses: count.describe("Misses or lapses the owner acknowledged"),
  acknowledgementsAccepted: count.describe("Of those, acknowledgements the partner accepted"),
};

export const categoryFiguresSchema = z.object(countsShape).meta({ id: "CategoryFigures" });

export const memberFiguresSchema = z
  .object({
    userId: z.uuid(),
    ...countsShape,
    byCategory: z
      .object(Object.fromEntries(commitmentCategories.map((c) => [c, categoryFiguresSchema])))
      .describe("The same figures per category; every category is present"),
  })
  .meta({ id: "MemberFigures" });

export const consistencySchema = z
  .object({
    window: z.enum(windows),
    from: instant.nullable().describe("now − N×24 h; null for `all`"),
    asOf: instant.describe("The instant the figures were computed at"),
    members: z.array(memberFiguresSchema).describe("Both members, the one who joined first first"),
    boundaries: z.object({
      agreed: count.describe("Boundaries in force now (whatever the window)"),
      revisions: count.describe("Revisions accepted in the window"),
      withdrawn: count.describe("Boundaries whose consent was withdrawn in the window"),
    }),
  })
  .meta({ id: "Consistency" });

export const trendPointSchema = z.object({
  weekStart: z.iso.date().describe("Monday of the week, a local date in the member's time zone"),
  kept: count,
  missed: count,
  lapsed: count,
  keptRate: rate,
});

export const trendSchema = z
  .object({
    bucket: z.literal("week"),
    weeks: z.number().int(),
    asOf: instant,
    members: z.array(
      z.object({
        userId: z.uuid(),
        points: z.array(trendPointSchema).describe("Oldest first; the current, partial week last"),
      }),
    ),
  })
  .meta({ id: "ConsistencyTrend" });

export const inboxItemSchema = z
  .object({
    type: z
      .enum(["report", "reschedule", "acknowledgement", "request", "boundaryProposal", "boundaryRevision"])
      .describe("What is asked of you"),
    subjectType: z.enum(["commitment", "request", "boundary"]),
    subjectId: z.uuid(),
    revision: z.number().int().nullable().describe("The revision number, for boundaryRevision"),
    href: z.string().describe("The subject's path"),
    actions: z.array(z.string()).describe("Paths that answer it (POST)"),
    since: instant.describe("When it started waiting for you"),
    until: instant.nullable().describe("When it stops waiting by itself (auto-confirmation, expiry), if it does"),
  })
  .meta({ id: "InboxItem" });

export const inboxSchema = z
  .object({
    data: z.array(inboxItemSchema).describe("Oldest first"),
    nextCursor: z.null().describe("Always null: the inbox is answered whole"),
  })
  .meta({ id: "Inbox" });

export type Consistency = z.infer<typeof consistencySchema>;
export type MemberFigures = z.infer<typeof memberFiguresSchema>;
export type CategoryFigures = z.infer<typeof categoryFiguresSchema>;
export type Trend = z.infer<typeof trendSchema>;
export type InboxEntry = z.infer<typeof inboxItemSchema>;
