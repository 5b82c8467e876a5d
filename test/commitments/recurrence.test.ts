import { describe, expect, it } from "vitest";
import {
  MAX_OCCURRENCES,
  nextOccurrenceAfter,
  occurrences,
  parseRecurrence,
  RecurrenceError,
  recurrenceSchema,
  startMatchesRule,
} from "../../src/modules/commitments/recurrence.js";

const iso = (dates: Date[]) => dates.map((d) => d.toISOString());
const at = (instant: string) => new Date(instant);

/** Occurrences of `rrule` for a series starting at `dtstart` in `timeZone`, within [from, to). */
function expand(rrule: string, dtstart: string, timeZone: string, from = dtstart, to = "2030-01-01T00:00:00Z") {
  return iso(occurrences({ rule: parseRecurrence(rrule), dtstart: at(dtstart), timeZone, from: at(from), to: at(to) }));
}

const WEEKDAYS = "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR";

describe("weekday 19:00 keeps its local time across daylight-saving changes", () => {
  // Thursday 2026-01-08 19:00 GMT; the windows below are months later, so the expansion also skips ahead.
  const london = (from: string, to: string) => expand(WEEKDAYS, "2026-01-08T19:00:00Z", "Europe/London", from, to);

  it("Europe/London: GMT to BST on 2026-03-29", () => {
    expect(london("2026-03-26T00:00:00Z", "2026-04-01T00:00:00Z")).toEqual([
      "2026-03-26T19:00:00.000Z", // Thu, GMT
      "2026-03-27T19:00:00.000Z", // Fri, GMT
      "2026-03-30T18:00:00.000Z", // Mon, BST
      "2026-03-31T18:00:00.000Z",
    ]);
  });

  it("Europe/London: BST to GMT on 2026-10-25", () => {
    expect(london("2026-10-22T00:00:00Z", "2026-10-28T00:00:00Z")).toEqual([
      "2026-10-22T18:00:00.000Z", // Thu, BST
      "2026-10-23T18:00:00.000Z", // Fri, BST
      "2026-10-26T19:00:00.000Z", // Mon, GMT
      "2026-10-27T19:00:00.000Z",
    ]);
  });

  // Thursday 2026-01-08 19:00 EST is 2026-01-09T00:00Z: the UTC date is the next day.
  const newYork = (from: string, to: string) => expand(WEEKDAYS, "2026-01-09T00:00:00Z", "America/New_York", from, to);

  it("America/New_York: EST to EDT on 2026-03-08", () => {
    expect(newYork("2026-03-05T12:00:00Z", "2026-03-11T00:00:00Z")).toEqual([
      "2026-03-06T00:00:00.000Z", // Thu 03-05 19:00 EST
      "2026-03-07T00:00:00.000Z", // Fri 03-06 19:00 EST
      "2026-03-09T23:00:00.000Z", // Mon 03-09 19:00 EDT
      "2026-03-10T23:00:00.000Z",
    ]);
  });

  it("America/New_York: EDT to EST on 2026-11-01", () => {
    expect(newYork("2026-10-29T00:00:00Z", "2026-11-05T00:00:00Z")).toEqual([
      "2026-10-29T23:00:00.000Z", // Thu 19:00 EDT
      "2026-10-30T23:00:00.000Z", // Fri 19:00 EDT
      "2026-11-03T00:00:00.000Z", // Mon 11-02 19:00 EST
      "2026-11-04T00:00:00.000Z",
    ]);
  });
});

describe("local times that do not exist or exist twice", () => {
  it("01:30 on London's spring-forward day moves forward to 02:30 BST (RFC 5545 §3.3.5)", () => {
    expect(expand("FREQ=DAILY;COUNT=5", "2026-03-27T01:30:00Z", "Europe/London")).toEqual([
      "2026-03-27T01:30:00.000Z", // 01:30 GMT
      "2026-03-28T01:30:00.000Z", // 01:30 GMT
      "2026-03-29T01:30:00.000Z", // 01:30 does not exist: 02:30 BST
      "2026-03-30T00:30:00.000Z", // 01:30 BST
      "2026-03-31T00:30:00.000Z",
    ]);
  });

  it("01:30 on London's fall-back day takes the first of its two instants (BST)", () => {
    expect(expand("FREQ=DAILY;COUNT=4", "2026-10-23T00:30:00Z", "Europe/London")).toEqual([
      "2026-10-23T00:30:00.000Z", // 01:30 BST
      "2026-10-24T00:30:00.000Z", // 01:30 BST
      "2026-10-25T00:30:00.000Z", // 01:30 twice: BST, not 01:30Z (GMT)
      "2026-10-26T01:30:00.000Z", // 01:30 GMT
    ]);
  });

  it("a start in the second 01:30 of the fall-back day stays as given; the wall time recurs", () => {
    expect(expand("FREQ=DAILY;COUNT=2", "2026-10-25T01:30:00Z", "Europe/London")).toEqual([
      "2026-10-25T01:30:00.000Z",
      "2026-10-26T01:30:00.000Z",
    ]);
  });
});

describe("rule parts", () => {
  it("WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR: every other week, counted from the start's week", () => {
    // Wednesday 2026-01-07 19:00 GMT; the week of 01-12 is skipped.
    expect(expand("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR;COUNT=7", "2026-01-07T19:00:00Z", "Europe/London")).toEqual([
      "2026-01-07T19:00:00.000Z",
      "2026-01-09T19:00:00.000Z",
      "2026-01-19T19:00:00.000Z",
      "2026-01-21T19:00:00.000Z",
      "2026-01-23T19:00:00.000Z",
      "2026-02-02T19:00:00.000Z",
      "2026-02-04T19:00:00.000Z",
    ]);
  });

  it("WKST decides where an INTERVAL=2 week starts (RFC 5545's own example)", () => {
    const rrule = "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU";
    const start = "1997-08-05T13:00:00Z"; // Tue 09:00 EDT
    expect(expand(`${rrule};WKST=MO`, start, "America/New_York")).toEqual([
      "1997-08-05T13:00:00.000Z",
      "1997-08-10T13:00:00.000Z",
      "1997-08-19T13:00:00.000Z",
      "1997-08-24T13:00:00.000Z",
    ]);
    expect(expand(`${rrule};WKST=SU`, start, "America/New_York")).toEqual([
      "1997-08-05T13:00:00.000Z",
      "1997-08-17T13:00:00.000Z",
      "1997-08-19T13:00:00.000Z",
      "1997-08-31T13:00:00.000Z",
    ]);
  });

  it("MONTHLY from the 31st skips months without a 31st", () => {
    expect(expand("FREQ=MONTHLY;COUNT=5", "2026-01-31T19:00:00Z", "Europe/London")).toEqual([
      "2026-01-31T19:00:00.000Z",
      "2026-03-31T18:00:00.000Z", // February has no 31st; March is in BST
      "2026-05-31T18:00:00.000Z",
      "2026-07-31T18:00:00.000Z",
      "2026-08-31T18:00:00.000Z",
    ]);
  });

  it("MONTHLY;BYMONTHDAY=-1 is the last day of every month", () => {
    expect(expand("FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=3", "2026-01-31T09:00:00Z", "UTC")).toEqual([
      "2026-01-31T09:00:00.000Z",
      "2026-02-28T09:00:00.000Z",
      "2026-03-31T09:00:00.000Z",
    ]);
  });

  it("MONTHLY with numbered weekdays: BYDAY=1MO and BYDAY=-1FR", () => {
    expect(expand("FREQ=MONTHLY;BYDAY=1MO;COUNT=3", "2026-01-05T09:00:00Z", "UTC")).toEqual([
      "2026-01-05T09:00:00.000Z",
      "2026-02-02T09:00:00.000Z",
      "2026-03-02T09:00:00.000Z",
    ]);
    expect(expand("FREQ=MONTHLY;BYDAY=-1FR;COUNT=3", "2026-01-30T09:00:00Z", "UTC")).toEqual([
      "2026-01-30T09:00:00.000Z",
      "2026-02-27T09:00:00.000Z",
      "2026-03-27T09:00:00.000Z",
    ]);
  });

  it("BYDAY and BYMONTHDAY together select the days that match both (Friday the 13th)", () => {
    expect(expand("FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13;COUNT=3", "2026-02-13T12:00:00Z", "UTC")).toEqual([
      "2026-02-13T12:00:00.000Z",
      "2026-03-13T12:00:00.000Z",
      "2026-11-13T12:00:00.000Z",
    ]);
  });

  it("WEEKLY without BYDAY repeats the start's weekday; DAILY;INTERVAL=7 does too", () => {
    const mondays = ["2026-01-05T09:00:00.000Z", "2026-01-12T09:00:00.000Z", "2026-01-19T09:00:00.000Z"];
    expect(expand("FREQ=WEEKLY;COUNT=3", "2026-01-05T09:00:00Z", "UTC")).toEqual(mondays);
    expect(expand("FREQ=DAILY;INTERVAL=7", "2026-01-05T09:00:00Z", "UTC", undefined, "2026-01-20T00:00:00Z")).toEqual(
      mondays,
    );
  });

  it("DAILY;INTERVAL=3 steps over days", () => {
    expect(expand("FREQ=DAILY;INTERVAL=3;COUNT=3", "2026-01-01T08:00:00Z", "UTC")).toEqual([
      "2026-01-01T08:00:00.000Z",
      "2026-01-04T08:00:00.000Z",
      "2026-01-07T08:00:00.000Z",
    ]);
  });
});

describe("COUNT, UNTIL and the window", () => {
  it("COUNT counts from the start even when the window begins later", () => {
    // Five occurrences: 01-01 .. 01-05. A window from 01-03 sees the last three, then nothing.
    expect(expand("FREQ=DAILY;COUNT=5", "2026-01-01T19:00:00Z", "Europe/London", "2026-01-03T00:00:00Z")).toEqual([
      "2026-01-03T19:00:00.000Z",
      "2026-01-04T19:00:00.000Z",
      "2026-01-05T19:00:00.000Z",
    ]);
  });

  it("UNTIL is an inclusive UTC instant", () => {
    expect(expand("FREQ=DAILY;UNTIL=20260103T190000Z", "2026-01-01T19:00:00Z", "Europe/London")).toEqual([
      "2026-01-01T19:00:00.000Z",
      "2026-01-02T19:00:00.000Z",
      "2026-01-03T19:00:00.000Z",
    ]);
    expect(expand("FREQ=DAILY;UNTIL=20260103T185959Z", "2026-01-01T19:00:00Z", "Europe/London")).toEqual([
      "2026-01-01T19:00:00.000Z",
      "2026-01-02T19:00:00.000Z",
    ]);
  });

  it("UNTIL is compared with the real instant, not the local time (18:00Z is 19:00 BST)", () => {
    expect(expand("FREQ=DAILY;UNTIL=20260601T180000Z", "2026-05-30T18:00:00Z", "Europe/London")).toEqual([
      "2026-05-30T18:00:00.000Z",
      "2026-05-31T18:00:00.000Z",
      "2026-06-01T18:00:00.000Z",
    ]);
  });

  it("the window is [from, to): from inclusive, to exclusive", () => {
    const days = expand("FREQ=DAILY", "2026-01-01T09:00:00Z", "UTC", "2026-01-02T09:00:00Z", "2026-01-04T09:00:00Z");
    expect(days).toEqual(["2026-01-02T09:00:00.000Z", "2026-01-03T09:00:00.000Z"]);
  });

  it("limit caps the answer, and so does MAX_OCCURRENCES", () => {
    const series = { rule: parseRecurrence("FREQ=DAILY"), dtstart: at("2026-01-01T09:00:00Z"), timeZone: "UTC" };
    const window = { from: at("2026-01-01T00:00:00Z"), to: at("2036-01-01T00:00:00Z") };
    expect(iso(occurrences({ ...series, ...window, limit: 2 }))).toEqual([
      "2026-01-01T09:00:00.000Z",
      "2026-01-02T09:00:00.000Z",
    ]);
    expect(occurrences({ ...series, ...window })).toHaveLength(MAX_OCCURRENCES);
  });
});

describe("the series start", () => {
  it("is the first occurrence and counts towards COUNT even when the pattern does not match it", () => {
    const series = {
      rule: parseRecurrence(`${WEEKDAYS};COUNT=3`),
      dtstart: at("2026-01-10T19:00:00Z"),
      timeZone: "UTC",
    };
    expect(startMatchesRule(series)).toBe(false); // a Saturday
    expect(iso(occurrences({ ...series, from: series.dtstart, to: at("2027-01-01T00:00:00Z") }))).toEqual([
      "2026-01-10T19:00:00.000Z",
      "2026-01-12T19:00:00.000Z",
      "2026-01-13T19:00:00.000Z",
    ]);
  });

  it("startMatchesRule is true for a start the pattern selects, false past UNTIL", () => {
    const dtstart = at("2026-01-08T19:00:00Z"); // Thursday
    expect(startMatchesRule({ rule: parseRecurrence(WEEKDAYS), dtstart, timeZone: "Europe/London" })).toBe(true);
    const ended = parseRecurrence(`${WEEKDAYS};UNTIL=20260101T000000Z`);
    expect(startMatchesRule({ rule: ended, dtstart, timeZone: "Europe/London" })).toBe(false);
  });

  it("is judged by its local date: 2026-01-09T00:00Z is Thursday evening in New York", () => {
    const rule = parseRecurrence("FREQ=WEEKLY;BYDAY=TH");
    expect(startMatchesRule({ rule, dtstart: at("2026-01-09T00:00:00Z"), timeZone: "America/New_York" })).toBe(true);
    expect(startMatchesRule({ rule, dtstart: at("2026-01-09T00:00:00Z"), timeZone: "UTC" })).toBe(false);
  });
});

describe("nextOccurrenceAfter", () => {
  const series = { rule: parseRecurrence(WEEKDAYS), dtstart: at("2026-01-08T19:00:00Z"), timeZone: "Europe/London" };

  it("answers the first occurrence strictly after the instant, across a weekend and a DST change", () => {
    expect(nextOccurrenceAfter({ ...series, after: at("2026-03-27T19:00:00Z") })?.toISOString()).toBe(
      "2026-03-30T18:00:00.000Z",
    );
    expect(nextOccurrenceAfter({ ...series, after: at("2025-12-01T00:00:00Z") })?.toISOString()).toBe(
      "2026-01-08T19:00:00.000Z",
    );
  });

  it("answers null once COUNT or UNTIL is used up", () => {
    const counted = { ...series, rule: parseRecurrence(`${WEEKDAYS};COUNT=2`) };
    expect(nextOccurrenceAfter({ ...counted, after: at("2026-01-08T19:00:00Z") })?.toISOString()).toBe(
      "2026-01-09T19:00:00.000Z",
    );
    expect(nextOccurrenceAfter({ ...counted, after: at("2026-01-09T19:00:00Z") })).toBeNull();
    const until = { ...series, rule: parseRecurrence(`${WEEKDAYS};UNTIL=20260109T190000Z`) };
    expect(nextOccurrenceAfter({ ...until, after: at("2026-01-09T19:00:00Z") })).toBeNull();
  });

  it("answers null, promptly, for a rule that never matches again from this start", () => {
    // Every 12 months from February on the 31st: no February has one.
    const rule = parseRecurrence("FREQ=MONTHLY;INTERVAL=12;BYMONTHDAY=31");
    const started = Date.now();
    expect(
      nextOccurrenceAfter({
        rule,
        dtstart: at("2026-02-10T09:00:00Z"),
        timeZone: "UTC",
        after: at("2026-02-10T09:00:00Z"),
      }),
    ).toBeNull();
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe("the server's own time zone has no effect", () => {
  it("gives the same instants with TZ=Pacific/Chatham (UTC+13:45 in January)", () => {
    const before = process.env.TZ;
    try {
      process.env.TZ = "Pacific/Chatham";
      // Node applies a changed TZ at once: prove the process really runs in Chatham time now.
      expect(new Date("2026-01-15T00:00:00Z").getTimezoneOffset()).toBe(-825);
      expect(
        expand(WEEKDAYS, "2026-01-08T19:00:00Z", "Europe/London", "2026-03-26T00:00:00Z", "2026-04-01T00:00:00Z"),
      ).toEqual([
        "2026-03-26T19:00:00.000Z",
        "2026-03-27T19:00:00.000Z",
        "2026-03-30T18:00:00.000Z",
        "2026-03-31T18:00:00.000Z",
      ]);
      expect(expand("FREQ=DAILY;COUNT=3", "2026-03-28T01:30:00Z", "Europe/London")).toEqual([
        "2026-03-28T01:30:00.000Z",
        "2026-03-29T01:30:00.000Z",
        "2026-03-30T00:30:00.000Z",
      ]);
    } finally {
      if (before === undefined) delete process.env.TZ;
      else process.env.TZ = before;
    }
  });
});

describe("parsing", () => {
  it("accepts the RRULE: prefix, any case, and answers one canonical spelling", () => {
    const rule = parseRecurrence(" rrule:freq=monthly;byday=-1fr;interval=2 ");
    expect(rule).toMatchObject({ freq: "MONTHLY", interval: 2, byDay: [{ weekday: "FR", nth: -1 }], wkst: "MO" });
    expect(rule.text).toBe("FREQ=MONTHLY;BYDAY=-1FR;INTERVAL=2");
    expect(parseRecurrence("RRULE:FREQ=DAILY;UNTIL=20261231T235959Z").until?.toISOString()).toBe(
      "2026-12-31T23:59:59.000Z",
    );
  });

  it.each([
    ["FREQ=SECONDLY", /FREQ=SECONDLY is not supported/],
    ["FREQ=HOURLY", /FREQ=HOURLY is not supported/],
    ["FREQ=YEARLY", /FREQ=YEARLY is not supported/],
    ["BYDAY=MO", /FREQ is required/],
    ["", /one RRULE line/],
    ["FREQ=MONTHLY;BYDAY=MO;BYSETPOS=-1", /BYSETPOS is not supported/],
    ["FREQ=DAILY;BYHOUR=9", /BYHOUR is not supported/],
    ["FREQ=DAILY;FOO=1", /FOO is not supported/],
    ["DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY", /DTSTART does not belong/],
    ["DTSTART=20260101T090000Z;FREQ=DAILY", /DTSTART does not belong/],
    ["FREQ=DAILY;FREQ=WEEKLY", /FREQ is given twice/],
    ["FREQ=DAILY;", /empty part/],
    ["FREQ=DAILY;COUNT", /not a NAME=VALUE/],
    ["FREQ=DAILY;COUNT=0", /COUNT=0 can never produce/],
    ["FREQ=DAILY;COUNT=1001", /COUNT must be between 1 and 1000/],
    ["FREQ=DAILY;COUNT=abc", /COUNT must be a whole number/],
    ["FREQ=DAILY;INTERVAL=0", /INTERVAL must be between/],
    ["FREQ=DAILY;COUNT=3;UNTIL=20261231T000000Z", /COUNT or UNTIL, not both/],
    ["FREQ=DAILY;UNTIL=20261231", /UNTIL must be a UTC date-time/],
    ["FREQ=DAILY;UNTIL=20261231T000000", /UNTIL must be a UTC date-time/],
    ["FREQ=DAILY;UNTIL=20260230T000000Z", /not a real date/],
    ["FREQ=WEEKLY;BYDAY=XX", /BYDAY entries are weekdays/],
    ["FREQ=WEEKLY;BYDAY=MO,,FR", /BYDAY entries are weekdays/],
    ["FREQ=WEEKLY;BYDAY=1MO", /needs FREQ=MONTHLY/],
    ["FREQ=MONTHLY;BYDAY=6MO", /can never occur/],
    ["FREQ=MONTHLY;BYDAY=0MO", /can never occur/],
    ["FREQ=MONTHLY;BYMONTHDAY=32", /can never occur/],
    ["FREQ=MONTHLY;BYMONTHDAY=0", /can never occur/],
    ["FREQ=WEEKLY;BYMONTHDAY=1", /BYMONTHDAY needs FREQ=MONTHLY/],
    ["FREQ=MONTHLY;BYDAY=5MO;BYMONTHDAY=1", /never fall on the same day/],
    ["FREQ=WEEKLY;WKST=XX", /WKST must be a weekday/],
    [`FREQ=DAILY;${"BYDAY=MO;".repeat(60)}`, /longer than 500/],
  ])("rejects %j", (rrule, message) => {
    expect(() => parseRecurrence(rrule)).toThrow(RecurrenceError);
    expect(() => parseRecurrence(rrule)).toThrow(message);
  });
});

describe("recurrenceSchema", () => {
  it("answers the canonical rule and the canonical zone", () => {
    expect(recurrenceSchema.parse({ rrule: "RRULE:freq=weekly;byday=mo,we", timeZone: "europe/london" })).toEqual({
      rrule: "FREQ=WEEKLY;BYDAY=MO,WE",
      timeZone: "Europe/London",
    });
    expect(recurrenceSchema.parse({ rrule: "FREQ=DAILY" })).toEqual({ rrule: "FREQ=DAILY" });
  });

  it("rejects an unsupported rule with its message, a bad zone, an overlong rule and unknown fields", () => {
    const issues = (value: unknown) => recurrenceSchema.safeParse(value).error?.issues ?? [];
    expect(issues({ rrule: "FREQ=HOURLY" })).toMatchObject([
      { path: ["rrule"], message: "FREQ=HOURLY is not supported; use DAILY, WEEKLY or MONTHLY" },
    ]);
    expect(issues({ rrule: "FREQ=DAILY", timeZone: "+01:00" })).toMatchObject([{ path: ["timeZone"] }]);
    expect(issues({ rrule: "FREQ=DAILY", timeZone: "Mars/Olympus" })).toMatchObject([{ path: ["timeZone"] }]);
    expect(issues({ rrule: `FREQ=DAILY;COUNT=1${"0".repeat(600)}` })).toMatchObject([{ path: ["rrule"] }]);
    expect(issues({ rrule: "FREQ=DAILY", dtstart: "2026-01-01" })).toMatchObject([{ code: "unrecognized_keys" }]);
  });
});
