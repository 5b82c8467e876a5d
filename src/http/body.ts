import { z } from "zod";

/**
 * The body of a write that takes no input: nothing, or an empty object.
 * Unknown fields are refused (400) like anywhere else, never ignored.
 */
export const noBody = z.strictObject({}).nullish();
