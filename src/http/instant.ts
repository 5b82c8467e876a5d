import { z } from "zod";

/**
 * Every instant a client sends lies in [INSTANT_MIN, INSTANT_MAX). An
 * RFC 3339 string can name year 9999, and a time computed from it (the
 * lapse at dueAt + grace) then falls in year 10000, which PostgreSQL
 * refuses (a 500). The Unix epoch to 2200 leaves room for every real plan
 * and every "from the beginning" filter, and whatever is computed from
 * such an instant (days, at most) stays far inside what PostgreSQL stores.
 */
export const INSTANT_MIN = "1970-01-01T00:00:00Z";
export const INSTANT_MAX = "2200-01-01T00:00:00Z";
const minMs = Date.parse(INSTANT_MIN);
const maxMs = Date.parse(INSTANT_MAX);

export const instantRangeMessage = `must be an instant from ${INSTANT_MIN} up to (not including) ${INSTANT_MAX}`;

export const instantInRange = (ms: number) => ms >= minMs && ms < maxMs;

/** An RFC 3339 instant with offset, inside the bounds above: the one schema every module uses for instants. */
export const instant = z.iso
  .datetime({ offset: true })
  .refine((value) => instantInRange(Date.parse(value)), { message: instantRangeMessage });
