import { z } from "zod";

/** Accepted when the runtime's time-zone database knows it; stored in its canonical spelling. */
export const timeZoneSchema = z
  .string()
  .min(1)
  .max(64)
  .refine((zone) => canonicalTimeZone(zone) !== undefined, "must be an IANA time zone such as Europe/Paris")
  .transform((zone) => canonicalTimeZone(zone) as string)
  .describe("IANA time zone, e.g. Europe/Paris");

export function canonicalTimeZone(zone: string): string | undefined {
  // Offsets and abbreviations are not zones: they do not follow daylight-saving rules.
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(zone)) return undefined;
  try {
    return new Intl.DateTimeFormat("en-US", { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

const email = z.email().max(254).describe("Unique, compared case-insensitively");
const password = z.string().min(8).max(128).describe("8 to 128 characters, never truncated");
const displayName = z.string().trim().min(1).max(80);

export const registerBody = z.strictObject({ email, password, displayName, timeZone: timeZoneSchema });
export const loginBody = z.strictObject({ email: z.string().max(254), password: z.string().max(128) });
export const refreshBody = z.strictObject({ refreshToken: z.string().min(1).max(128) });

export const changePasswordBody = z.strictObject({
  currentPassword: z.string().min(1).max(128),
  newPassword: password,
});

const shareTimeZone = z
  .boolean()
  .describe("Whether your partner sees your time zone (off unless you turn it on: no tracking)");

export const updateMeBody = z
  .strictObject({
    displayName: displayName.optional(),
    timeZone: timeZoneSchema.optional(),
    shareTimeZone: shareTimeZone.optional(),
  })
  .refine((body) => Object.keys(body).length > 0, "name at least one field to change");

export const userSchema = z
  .object({
    id: z.uuid(),
    email: z.string(),
    displayName: z.string(),
    timeZone: z.string(),
    shareTimeZone,
    activePairId: z.uuid().nullable(),
    version: z.number().int(),
    createdAt: z.iso.datetime({ offset: true }),
  })
  .meta({ id: "User" });

export const tokensSchema = z
  .object({
    accessToken: z.string().describe("JWT for `Authorization: Bearer`; short-lived"),
    refreshToken: z.string().describe("Single use: each refresh returns a new one"),
    expiresIn: z.number().int().describe("Seconds until the access token expires"),
    tokenType: z.literal("Bearer"),
  })
  .meta({ id: "Tokens" });

export const sessionSchema = z.object({ user: userSchema, ...tokensSchema.shape }).meta({ id: "Session" });

export const jwksSchema = z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).meta({ id: "JSONWebKeySet" });

export type RegisterInput = z.infer<typeof registerBody>;
export type LoginInput = z.infer<typeof loginBody>;
export type UpdateMeInput = z.infer<typeof updateMeBody>;
export type ChangePasswordInput = z.infer<typeof changePasswordBody>;
export type User = z.infer<typeof userSchema>;
export type Tokens = z.infer<typeof tokensSchema>;
export type Session = z.infer<typeof sessionSchema>;
