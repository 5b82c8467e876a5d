import { z } from "zod";
import { pageSchema } from "../../http/pagination.js";

export const eventSchema = z
  .object({
    pairId: z.uuid(),
    seq: z.number().int().min(1),
    type: z.string().describe("e.g. `pair.linked`, `commitment.reported`"),
    actorId: z.uuid().nullable().describe("null for system events (sweeps)"),
    subjectType: z.string(),
    subjectId: z.uuid(),
    payload: z.record(z.string(), z.unknown()).describe("ids, states and changed field names; never personal text"),
    occurredAt: z.iso.datetime({ offset: true }),
    prevHash: z.string().length(64),
    hash: z.string().length(64).describe("sha256(prevHash ‖ RFC 8785 canonical event), see docs/domain.md"),
  })
  .meta({ id: "Event" });

export type PairEvent = z.infer<typeof eventSchema>;

export const eventPageSchema = pageSchema(eventSchema).meta({ id: "EventPage" });

const eventType = z.string().regex(/^[a-z_]+\.[a-z_]+$/, "an event type such as pair.linked");

export const eventListQuery = z.strictObject({
  after: z.coerce.number().int().min(0).default(0).describe("Only events with a greater seq"),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  types: z
    .string()
    .max(1000)
    .transform((value) => value.split(",").filter(Boolean))
    .pipe(z.array(eventType).max(30))
    .optional()
    .describe("Comma-separated event types"),
  subjectId: z.uuid().optional(),
});

const hashHex = z.string().regex(/^[0-9a-f]{64}$/, "64 lower-case hex digits");

export const verifyQuery = z
  .strictObject({
    fromSeq: z.coerce
      .number()
      .int()
      .min(1)
      .max(2_147_483_647)
      .optional()
      .describe("With `fromHash`: check only the events after this seq (a checkpoint you hold)"),
    fromHash: hashHex.optional().describe("The hash you hold for `fromSeq`; the stored one must match"),
  })
  .refine((query) => (query.fromSeq === undefined) === (query.fromHash === undefined), {
    message: "fromSeq and fromHash go together",
    path: ["fromHash"],
  });

export const verificationSchema = z
  .object({
    valid: z.boolean(),
    lastSeq: z.number().int().describe("The last seq that verified"),
    headHash: z.string().nullable().describe("Hash of that event; null when none verified"),
    brokenAtSeq: z
      .number()
      .int()
      .nullable()
      .describe(
        "First seq whose link does not hold; null when valid. With `fromSeq`, `fromSeq` itself when the stored hash there is not `fromHash` (or the chain is shorter)",
      ),
  })
  .meta({ id: "ChainVerification" });

export const checkpointSchema = z
  .object({
    pairId: z.uuid(),
    seq: z.number().int(),
    hash: z.string(),
    issuedAt: z.iso.datetime({ offset: true }),
    jws: z.string().describe("Compact JWS (typ `kept-checkpoint+jws`) over the four fields above; key in the JWKS"),
  })
  .meta({ id: "Checkpoint" });

export type Verification = z.infer<typeof verificationSchema>;
export type Checkpoint = z.infer<typeof checkpointSchema>;
