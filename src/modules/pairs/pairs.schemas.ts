import { z } from "zod";
import { pageSchema } from "../../http/pagination.js";

export const inviteSchema = z
  .object({
    code: z.string().describe("Share it with your partner; shown only once"),
    expiresAt: z.iso.datetime({ offset: true }),
  })
  .meta({ id: "Invite" });

export const currentInviteSchema = z
  .object({
    pending: z.boolean(),
    createdAt: z.iso.datetime({ offset: true }).nullable(),
    expiresAt: z.iso.datetime({ offset: true }).nullable(),
  })
  .meta({ id: "CurrentInvite", description: "The code itself is stored hashed and cannot be shown again" });

export const joinPairBody = z.strictObject({
  inviteCode: z.string().min(1).max(32).describe("Case and dashes do not matter"),
});

export const memberSchema = z.object({
  userId: z.uuid(),
  displayName: z.string().describe("As it was when the pair ended, for an ended pair"),
  timeZone: z
    .string()
    .nullable()
    .describe("Only when this member shares it (`shareTimeZone`); for an ended pair, as shared at the end"),
  joinedAt: z.iso.datetime({ offset: true }),
});

export const pairSchema = z
  .object({
    id: z.uuid(),
    status: z.enum(["active", "ended"]),
    members: z.array(memberSchema),
    createdAt: z.iso.datetime({ offset: true }),
    endedAt: z.iso.datetime({ offset: true }).nullable(),
    endedBy: z.uuid().nullable(),
    endReason: z.string().nullable().describe("`left` or `account_deleted`"),
  })
  .meta({ id: "Pair" });

export const pairPageSchema = pageSchema(pairSchema).meta({ id: "PairPage" });

export type Invite = z.infer<typeof inviteSchema>;
export type CurrentInvite = z.infer<typeof currentInviteSchema>;
export type Pair = z.infer<typeof pairSchema>;
