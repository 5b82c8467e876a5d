import { z } from "zod";

/**
 * The `{pairId}` of every pair-scoped route. Path ids are checked by the
 * services (a malformed id is a 404, like any id that is not yours).
 */
export const pairParams = z.object({ pairId: z.string().max(64) });
