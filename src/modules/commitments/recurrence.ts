/**
 * Recurrence: the RFC 5545 RRULE subset Kept supports, evaluated on wall-clock
 * time in the series' IANA zone ("home by 19:00 every weekday" stays 19:00
 * local across daylight-saving changes). Pure functions, no database.
 *
 * Built on temporal-polyfill (Temporal's zone rules) with our own small
 * expander rather than on an RRULE library: the libraries we tried drop an
 * occurrence whose local time falls in a spring-forward gap (RFC 5545
 * §3.3.10), silently ignore unknown or malformed rule parts, and let a DTSTART
 * inside the rule string override the series' start. Kept wants the opposite
 * on all three, and the subset below is small enough to expand by hand.
 *
 * Semantics:
 * - The series starts at `dtstart` (the first commitment's `dueAt`), which is
 *   always the first occurrence and counts towards COUNT (RFC 5545 §3.8.5.3),
 *   whether or not the rule's pattern matches it (see `startMatchesRule`).
 * - Every later occurrence is dtstart's local time of day on a date the rule
 *   selects, converted with Temporal's "compatible" disambiguation, which is
 *   RFC 5545 §3.3.5's: a time in a gap moves forward by the gap's length
 *   (01:30 on London's spring-forward day is 02:30 BST), an ambiguous time
 *   takes the earlier instant (the daylight-time offset).
 * - UNTIL is a UTC instant and inclusive.
 * - Nothing here reads the server's own time zone.
 */
import { Temporal } from "temporal-polyfill";
import { z } from "zod";
import { INSTANT_MAX, INSTANT_MIN, instantInRange } from "../../http/instant.js";
import { timeZoneSchema } from "../auth/index.js";

export const MAX_RRULE_LENGTH = 500;
export const MAX_COUNT = 1000;
export const MAX_INTERVAL = 1000;
/** `occurrences` never answers more than this many instants. */
export const MAX_OCCURRENCES = 1000;

const FREQUENCIES = ["DAILY", "WEEKLY", "MONTHLY"] as const;
const WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"] as const;
const SUPPORTED_PARTS = ["FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "WKST"];

export type Frequency = (typeof FREQUENCIES)[number];
export type Weekday = (typeof WEEKDAYS)[number];
/** A BYDAY entry: `{weekday: "FR", nth: -1}` is "the last Friday" (MONTHLY only). */
export type ByDay = { weekday: Weekday; nth?: number };

export type ParsedRule = {
  freq: Frequency;
  interval: number;
  count?: number;
  /** UNTIL as the UTC instant it names; inclusive. */
  until?: Date;
  byDay?: ByDay[];
  /** MONTHLY only: 1..31, or -1..-31 counted from the month's end. */
  byMonthDay?: number[];
  wkst: Weekday;
  /** The rule in one canonical spelling (upper case, no "RRULE:" prefix), fit to store. */
  text: string;
};

/** Thrown by `parseRecurrence`; the message is written for the person who sent the rule. */
export class RecurrenceError extends Error {
  override readonly name = "RecurrenceError";
}

function fail(message: string): never {
  throw new RecurrenceError(message);
}

function positiveInt(name: string, value: string, max: number): number {
  if (!/^\d{1,9}$/.test(value)) fail(`${name} must be a whole number, not "${value}"`);
  const n = Number(value);
  if (n < 1 || n > max) fail(`${name} must be between 1 and ${max}`);
  return n;
}

/** UNTIL=YYYYMMDDTHHMMSSZ. RFC 5545 requires the UTC form when DTSTART has a zone, as ours always does. */
function parseUntil(value: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) fail(`UNTIL must be a UTC date-time such as 20261231T235959Z, not "${value}"`);
  const [, y, mo, d, h, mi, sec] = m;
  let ms: number;
  try {
    // An ISO string is parsed strictly: 20260230 or hour 24 is refused rather than shifted.
    ms = Temporal.Instant.from(`${y}-${mo}-${d}T${h}:${mi}:${sec}Z`).epochMilliseconds;
  } catch {
    fail(`UNTIL is not a real date and time: "${value}"`);
  }
  // The same bounds as every other instant (src/http/instant.ts).
  if (!instantInRange(ms)) fail(`UNTIL must be before ${INSTANT_MAX} and not before ${INSTANT_MIN}`);
  return new Date(ms);
}

function parseByDay(value: string, freq: Frequency): ByDay[] {
  return value.split(",").map((item) => {
    const m = /^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$/.exec(item);
    if (!m) fail(`BYDAY entries are weekdays such as MO or, for MONTHLY, 1MO or -1FR; "${item}" is not`);
    const nth = m[1];
    const weekday = m[2] as Weekday;
    if (nth === undefined) return { weekday };
    // RFC 5545 allows an ordinal only for MONTHLY and YEARLY; a month has at most five of any weekday.
    if (freq !== "MONTHLY") fail(`BYDAY=${item}: a numbered weekday needs FREQ=MONTHLY`);
    const n = Number(nth);
    if (n === 0 || Math.abs(n) > 5) fail(`BYDAY=${item} can never occur: a month has 1 to 5 of each weekday`);
    return { weekday, nth: n };
  });
}

function parseByMonthDay(value: string, freq: Frequency): number[] {
  if (freq !== "MONTHLY") fail("BYMONTHDAY needs FREQ=MONTHLY");
  return value.split(",").map((item) => {
    if (!/^[+-]?\d{1,2}$/.test(item)) fail(`BYMONTHDAY entries are days such as 1, 15 or -1; "${item}" is not`);
    const n = Number(item);
    if (n === 0 || Math.abs(n) > 31) fail(`BYMONTHDAY=${item} can never occur: use 1 to 31 or -1 to -31`);
    return n;
  });
}

/**
 * Parses an RRULE value (with or without the "RRULE:" prefix) into the
 * supported subset; throws `RecurrenceError` with a human message otherwise.
 */
export function parseRecurrence(rrule: string): ParsedRule {
  if (rrule.length > MAX_RRULE_LENGTH) fail(`The rule is longer than ${MAX_RRULE_LENGTH} characters`);
  const body = rrule.trim().replace(/^RRULE:/i, "");
  if (/DTSTART/i.test(body)) fail("DTSTART does not belong in the rule: the series starts at the first dueAt");
  if (!/^[A-Za-z0-9=;,+-]+$/.test(body))
    fail("The rule must be one RRULE line without spaces, such as FREQ=WEEKLY;BYDAY=MO,WE,FR");

  const parts = new Map<string, string>();
  for (const part of body.toUpperCase().split(";")) {
    const m = /^([A-Z]+)=(.+)$/.exec(part);
    if (!m) fail(part ? `"${part}" is not a NAME=VALUE rule part` : "The rule has an empty part (a stray ';')");
    const [name = "", value = ""] = m.slice(1);
    if (!SUPPORTED_PARTS.includes(name)) fail(`${name} is not supported; use ${SUPPORTED_PARTS.join(", ")}`);
    if (parts.has(name)) fail(`${name} is given twice`);
    parts.set(name, value);
  }

  const freq = parts.get("FREQ");
  if (freq === undefined) fail("FREQ is required: DAILY, WEEKLY or MONTHLY");
  if (!FREQUENCIES.includes(freq as Frequency)) fail(`FREQ=${freq} is not supported; use DAILY, WEEKLY or MONTHLY`);
  const rule: ParsedRule = { freq: freq as Frequency, interval: 1, wkst: "MO", text: "" };

  const interval = parts.get("INTERVAL");
  if (interval !== undefined) rule.interval = positiveInt("INTERVAL", interval, MAX_INTERVAL);
  const count = parts.get("COUNT");
  const until = parts.get("UNTIL");
  if (count !== undefined && until !== undefined) fail("Give COUNT or UNTIL, not both");
  if (count === "0") fail("COUNT=0 can never produce an occurrence");
  if (count !== undefined) rule.count = positiveInt("COUNT", count, MAX_COUNT);
  if (until !== undefined) rule.until = parseUntil(until);
  const byDay = parts.get("BYDAY");
  if (byDay !== undefined) rule.byDay = parseByDay(byDay, rule.freq);
  const byMonthDay = parts.get("BYMONTHDAY");
  if (byMonthDay !== undefined) rule.byMonthDay = parseByMonthDay(byMonthDay, rule.freq);
  const wkst = parts.get("WKST");
  if (wkst !== undefined) {
    if (!WEEKDAYS.includes(wkst as Weekday)) fail(`WKST must be a weekday such as MO, not "${wkst}"`);
    rule.wkst = wkst as Weekday;
  }

  // A MONTHLY day set depends only on the month's length (28-31) and the weekday of its 1st,
  // so trying those 28 shapes proves whether BYDAY and BYMONTHDAY together can ever meet.
  if (rule.byDay && rule.byMonthDay) {
    const shapes = [28, 29, 30, 31].flatMap((length) => [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ length, weekday })));
    if (!shapes.some(({ length, weekday }) => monthDays(rule, length, weekday, 1).length > 0)) {
      fail("BYDAY and BYMONTHDAY never fall on the same day, so the rule can never produce an occurrence");
    }
  }

  rule.text = [...parts].map(([name, value]) => `${name}=${value}`).join(";");
  return rule;
}

/** The request field `recurrence: {rrule, timeZone?}`; the rule comes out in its canonical spelling. */
export const recurrenceSchema = z
  .strictObject({
    rrule: z
      .string()
      .max(MAX_RRULE_LENGTH)
      .transform((rrule, ctx) => {
        try {
          return parseRecurrence(rrule).text;
        } catch (error) {
          if (!(error instanceof RecurrenceError)) throw error;
          ctx.addIssue({ code: "custom", message: error.message });
          return z.NEVER;
        }
      })
      .describe(
        "RFC 5545 RRULE value: FREQ=DAILY|WEEKLY|MONTHLY with INTERVAL, COUNT (≤ 1000), UTC UNTIL, BYDAY " +
          "(1MO, -1FR for MONTHLY), BYMONTHDAY (MONTHLY), WKST. The series starts at dueAt.",
      ),
    timeZone: timeZoneSchema.optional().describe("IANA zone the rule is evaluated in; default: the owner's"),
  })
  .meta({ id: "Recurrence" });

export type RecurrenceInput = z.input<typeof recurrenceSchema>;

// ---------------------------------------------------------------------------
// Expansion. Dates are Temporal.PlainDate in the series' zone; only at the end
// does a date plus dtstart's time of day become an instant.

const isoWeekday = (weekday: Weekday) => WEEKDAYS.indexOf(weekday) + 1;

/**
 * The days (1-based, ascending) a MONTHLY rule selects in a month of `length`
 * days whose 1st falls on `firstWeekday` (0 = Monday .. 6 = Sunday).
 * `defaultDay` is dtstart's day of month, used when neither BYDAY nor
 * BYMONTHDAY is given.
 */
function monthDays(rule: ParsedRule, length: number, firstWeekday: number, defaultDay: number): number[] {
  const weekdayOf = (day: number) => ((firstWeekday + day - 1) % 7) + 1;
  const byDayMatches = (day: number) =>
    rule.byDay?.some(({ weekday, nth }) => {
      if (weekdayOf(day) !== isoWeekday(weekday)) return false;
      if (nth === undefined) return true;
      return nth > 0 ? Math.ceil(day / 7) === nth : Math.ceil((length - day + 1) / 7) === -nth;
    }) ?? true;
  const byMonthDayMatches = (day: number) => rule.byMonthDay?.some((n) => (n > 0 ? n : length + n + 1) === day) ?? true;
  const days: number[] = [];
  if (!rule.byDay && !rule.byMonthDay) {
    // RFC 5545: a month without dtstart's day (the 31st, say) is skipped, not clamped.
    if (defaultDay <= length) days.push(defaultDay);
    return days;
  }
  for (let day = 1; day <= length; day++) if (byDayMatches(day) && byMonthDayMatches(day)) days.push(day);
  return days;
}

/** The dates period `index` (0 = the one holding the start date) selects, ascending. */
function periodDates(rule: ParsedRule, start: Temporal.PlainDate, index: number): Temporal.PlainDate[] {
  const step = index * rule.interval;
  switch (rule.freq) {
    case "DAILY": {
      const date = start.add({ days: step });
      const ok = rule.byDay?.some(({ weekday }) => isoWeekday(weekday) === date.dayOfWeek) ?? true;
      return ok ? [date] : [];
    }
    case "WEEKLY": {
      const weekStart = start
        .subtract({ days: (start.dayOfWeek - isoWeekday(rule.wkst) + 7) % 7 })
        .add({ weeks: step });
      const weekdays = rule.byDay?.map(({ weekday }) => isoWeekday(weekday)) ?? [start.dayOfWeek];
      return [0, 1, 2, 3, 4, 5, 6]
        .map((offset) => weekStart.add({ days: offset }))
        .filter((date) => weekdays.includes(date.dayOfWeek));
    }
    case "MONTHLY": {
      const month = start.toPlainYearMonth().add({ months: step });
      const first = month.toPlainDate({ day: 1 });
      return monthDays(rule, month.daysInMonth, first.dayOfWeek - 1, start.day).map((day) => first.with({ day }));
    }
  }
}

/** The index of a period at or before the one holding `date` (0 when `date` is not after the start). */
function periodIndexAt(rule: ParsedRule, start: Temporal.PlainDate, date: Temporal.PlainDate): number {
  if (Temporal.PlainDate.compare(date, start) <= 0) return 0;
  const elapsed =
    rule.freq === "MONTHLY"
      ? (date.year - start.year) * 12 + date.month - start.month
      : rule.freq === "WEEKLY"
        ? Math.floor(start.until(date).days / 7)
        : start.until(date).days;
  return Math.floor(elapsed / rule.interval);
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * How many periods in a row without a date prove that a rule will never
 * produce another occurrence. The dates a period selects depend only on its
 * weekday (DAILY: a 7-day cycle) or on its month within the 400-year Gregorian
 * cycle (MONTHLY: 4800 months, a whole number of weeks); stepping by INTERVAL
 * revisits the same phase after cycle / gcd(cycle, INTERVAL) periods. Every
 * WEEKLY period holds its BYDAY weekdays.
 */
function emptyPeriodLimit({ freq, interval }: ParsedRule): number {
  const cycle = freq === "MONTHLY" ? 4800 : freq === "DAILY" ? 7 : 1;
  return cycle / gcd(cycle, interval);
}

type Series = { rule: ParsedRule; dtstart: Date; timeZone: string };

/**
 * Every occurrence instant in order, starting at dtstart, or (for a rule
 * without COUNT, which need not be counted from the start) at the period
 * holding `skipTo`.
 */
function* instances({ rule, dtstart, timeZone }: Series, skipTo?: Date): Generator<Date> {
  const first = Temporal.Instant.fromEpochMilliseconds(dtstart.getTime()).toZonedDateTimeISO(timeZone);
  const start = first.toPlainDate();
  const time = first.toPlainTime();
  const until = rule.until?.getTime() ?? Number.POSITIVE_INFINITY;
  let remaining = rule.count ?? Number.POSITIVE_INFINITY;

  let index = 0;
  if (rule.count === undefined && skipTo && skipTo > dtstart) {
    // A day earlier than skipTo's local date, so an occurrence near midnight is not jumped over.
    const target = Temporal.Instant.fromEpochMilliseconds(skipTo.getTime()).toZonedDateTimeISO(timeZone);
    index = periodIndexAt(rule, start, target.toPlainDate().subtract({ days: 1 }));
  }
  let last = dtstart.getTime();
  if (index === 0) {
    yield dtstart;
    remaining--;
  }

  const emptyLimit = emptyPeriodLimit(rule);
  for (let empty = 0; remaining > 0 && empty < emptyLimit; index++) {
    const dates = periodDates(rule, start, index);
    // Judged before dropping the start's own date, which period 0 may hold: the rule still selects it.
    empty = dates.length === 0 ? empty + 1 : 0;
    for (const date of dates) {
      if (Temporal.PlainDate.compare(date, start) <= 0) continue;
      const at = date.toPlainDateTime(time).toZonedDateTime(timeZone, { disambiguation: "compatible" });
      const ms = at.epochMilliseconds;
      if (ms > until) return;
      // A gap a whole day long (Samoa skipped 2011-12-30) moves a time onto the next day's: keep one.
      if (ms <= last) continue;
      last = ms;
      yield new Date(ms);
      if (--remaining === 0) return;
    }
  }
}

export type OccurrenceQuery = Series & { from: Date; to: Date; limit?: number };

/** Occurrence instants in [from, to), ascending; at most `limit` (default and cap: MAX_OCCURRENCES). */
export function occurrences({ from, to, limit = MAX_OCCURRENCES, ...series }: OccurrenceQuery): Date[] {
  const max = Math.min(limit, MAX_OCCURRENCES);
  const found: Date[] = [];
  if (max <= 0) return found;
  for (const at of instances(series, from)) {
    if (at >= to) break;
    if (at < from) continue;
    found.push(at);
    if (found.length >= max) break;
  }
  return found;
}

/** The first occurrence strictly after `after`, or null when the series has ended or never produces again. */
export function nextOccurrenceAfter({ after, ...series }: Series & { after: Date }): Date | null {
  for (const at of instances(series, after)) if (at > after) return at;
  return null;
}

/**
 * Whether dtstart is itself an instance of the rule's pattern (and not past
 * UNTIL). A start that is not (a Saturday for a weekday rule) still counts as
 * the first occurrence; callers may prefer to refuse it.
 */
export function startMatchesRule({ rule, dtstart, timeZone }: Series): boolean {
  if (rule.until && dtstart > rule.until) return false;
  const start = Temporal.Instant.fromEpochMilliseconds(dtstart.getTime()).toZonedDateTimeISO(timeZone).toPlainDate();
  return periodDates(rule, start, 0).some((date) => date.equals(start));
}
