import { z } from "zod";
import { AppError } from "../errors/app-error.js";

export const paginationQuery = {
  limit: z.coerce.number().int().min(1).max(100).default(20).describe("Page size, 1 to 100"),
  cursor: z.string().max(512).optional().describe("`nextCursor` of the previous page"),
};

export const pageSchema = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), nextCursor: z.string().nullable() });

export type Page<T> = { data: T[]; nextCursor: string | null };

/** Cursors are opaque to clients: base64url of the sort key of the last row. */
export function encodeCursor(key: unknown[]): string {
  return Buffer.from(JSON.stringify(key)).toString("base64url");
}

export function decodeCursor<T extends z.ZodType>(cursor: string | undefined, shape: T): z.infer<T> | undefined {
  if (cursor === undefined) return undefined;
  try {
    return shape.parse(JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")));
  } catch {
    throw new AppError("VALIDATION_FAILED", "The cursor is not valid", {
      errors: [{ path: "querystring.cursor", message: "is not a cursor from this list" }],
    });
  }
}

/** Given `limit + 1` rows, answers one page and the cursor after its last row. */
export function pageOf<T>(rows: T[], limit: number, keyOf: (row: T) => unknown[]): Page<T> {
  const data = rows.slice(0, limit);
  const last = data.at(-1);
  return { data, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null };
}
