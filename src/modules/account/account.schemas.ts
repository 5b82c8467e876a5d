import { z } from "zod";

export const deleteMeBody = z.strictObject({
  password: z.string().min(1).max(128).describe("Your current password, re-entered"),
});

const resources = (what: string) => z.array(z.record(z.string(), z.unknown())).describe(what);

/** The export document, for the OpenAPI description (the route streams it; docs/domain.md: "Taking data along"). */
export const exportDocumentSchema = z
  .object({
    format: z.literal("kept-export"),
    formatVersion: z.literal(1),
    exportedAt: z.iso.datetime({ offset: true }),
    user: z.record(z.string(), z.unknown()).describe("My profile (User)"),
    publicKeys: z.record(z.string(), z.unknown()).describe("The JWKS whose keys verify each checkpoint's `jws`"),
    pairs: z
      .array(
        z.object({
          pair: z.record(z.string(), z.unknown()).describe("The pair (Pair)"),
          checkpoint: z.record(z.string(), z.unknown()).describe("Its signed chain head at export time (Checkpoint)"),
          commitments: resources("Every commitment (Commitment)"),
          series: resources("Every recurring series (Series)"),
          requests: resources("Every request (CommitmentRequest)"),
          boundaries: resources("Every boundary, with its agreed versions (Boundary)"),
          events: resources("Every event in seq order, with prevHash and hash (Event)"),
        }),
      )
      .describe("Every pair I was in, oldest first"),
  })
  .meta({ id: "AccountExport" });
