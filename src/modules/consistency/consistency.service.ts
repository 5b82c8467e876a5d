import { Temporal } from "temporal-polyfill";
import type { Clock } from "../../clock.js";
import { commitmentCategories } from "../commitments/index.js";
import type { CategoryFigures, Consistency, InboxEntry, MemberFigures, Trend, Window } from "./consistency.schemas.js";
import type { CommitmentCounts, ConsistencySources, InboxItem } from "./consistency.sources.js";

const DAY_MS = 86_400_000;
const windowDays: Record<Window, number | null> = { "7d": 7, "30d": 30, "90d": 90, all: null };

const noCounts: CommitmentCounts = {
  kept: 0,
  missed: 0,
  lapsed: 0,
  withdrawn: 0,
  disputed: 0,
  awaitingConfirmation: 0,
  open: 0,
  reportedInTime: 0,
  acknowledgedMisses: 0,
  acknowledgementsAccepted: 0,
  currentStreak: 0,
  longestStreak: 0,
};

/** `part ÷ whole`, or null when there is nothing to rate. */
const ratio = (part: number, whole: number) => (whole === 0 ? null : part / whole);

/** The documented formulas, from the counts the commitments module answers. */
export function figuresOf(counts: CommitmentCounts): CategoryFigures {
  const settled = counts.kept + counts.missed + counts.lapsed;
  return {
    kept: counts.kept,
    missed: counts.missed,
    lapsed: counts.lapsed,
    withdrawn: counts.withdrawn,
    disputed: counts.disputed,
    awaitingConfirmation: counts.awaitingConfirmation,
    open: counts.open,
    keptRate: ratio(counts.kept, settled),
    onTimeReportRate: ratio(counts.reportedInTime, settled),
    currentStreak: counts.currentStreak,
    longestStreak: counts.longestStreak,
    acknowledgedMisses: counts.acknowledgedMisses,
    acknowledgementsAccepted: counts.acknowledgementsAccepted,
  };
}

/**
 * Monday 00:00 of each of the last `weeks` weeks in `timeZone` (the current
 * week last), and the Monday after: `weeks + 1` bounds. A midnight that a
 * daylight-saving change skips starts at the day's first instant.
 */
export function weekBounds(now: Date, timeZone: string, weeks: number): { starts: string[]; bounds: Date[] } {
  const today = Temporal.Instant.fromEpochMilliseconds(now.getTime()).toZonedDateTimeISO(timeZone).toPlainDate();
  const first = today.subtract({ days: today.dayOfWeek - 1 }).subtract({ weeks: weeks - 1 });
  const mondays = Array.from({ length: weeks + 1 }, (_, i) => first.add({ weeks: i }));
  return {
    starts: mondays.slice(0, weeks).map((day) => day.toString()),
    bounds: mondays.map((day) => new Date(day.toZonedDateTime({ timeZone }).epochMilliseconds)),
  };
}

const answers: Record<InboxItem["type"], (item: InboxItem) => string[]> = {
  report: () => ["confirm", "dispute"],
  reschedule: () => ["reschedule/accept", "reschedule/decline"],
  acknowledgement: () => ["acknowledgement/accept"],
  request: () => ["accept", "decline"],
  boundaryProposal: () => ["accept", "decline"],
  boundaryRevision: (item) => [`revisions/${item.revision}/accept`, `revisions/${item.revision}/decline`],
};

const collections: Record<InboxItem["subjectType"], string> = {
  commitment: "commitments",
  request: "requests",
  boundary: "boundaries",
};

export type ConsistencyServiceDeps = { clock: Clock; sources: ConsistencySources };

/**
 * Consistency figures, their weekly trend, and the inbox. Everything is
 * computed from what the owning modules answer over their indexed tables
 * (never by replaying events), and nothing depends on who asks: both
 * partners get the same numbers.
 */
export function createConsistencyService({ clock, sources }: ConsistencyServiceDeps) {
  return {
    async figures(pairId: string, window: Window): Promise<Consistency> {
      const now = clock.now();
      const days = windowDays[window];
      const from = days === null ? null : new Date(now.getTime() - days * DAY_MS);
      const [{ memberIds }, rows, boundaries] = await Promise.all([
        sources.membership(pairId),
        sources.commitmentFigures(pairId, from),
        sources.boundaryFigures(pairId, from),
      ]);
      const members = memberIds.map((userId): MemberFigures => {
        const own = rows.filter((row) => row.ownerId === userId);
        const total = own.find((row) => row.category === null) ?? noCounts;
        const byCategory = Object.fromEntries(
          commitmentCategories.map((category) => [
            category,
            figuresOf(own.find((row) => row.category === category) ?? noCounts),
          ]),
        );
        return { userId, ...figuresOf(total), byCategory };
      });
      return { window, from: from?.toISOString() ?? null, asOf: now.toISOString(), members, boundaries };
    },

    async trend(pairId: string, weeks: number): Promise<Trend> {
      const now = clock.now();
      const { memberIds } = await sources.membership(pairId);
      const zones = await sources.timeZones(memberIds, pairId);
      const members = await Promise.all(
        memberIds.map(async (userId) => {
          const { starts, bounds } = weekBounds(now, zones.get(userId) ?? "UTC", weeks);
          const buckets = await sources.commitmentBuckets(pairId, userId, bounds);
          return {
            userId,
            points: starts.map((weekStart, i) => {
              const { kept, missed, lapsed } = buckets[i] ?? { kept: 0, missed: 0, lapsed: 0 };
              return { weekStart, kept, missed, lapsed, keptRate: ratio(kept, kept + missed + lapsed) };
            }),
          };
        }),
      );
      return { bucket: "week", weeks, asOf: now.toISOString(), members };
    },

    /** What awaits `userId`'s answer, oldest first. An ended pair awaits nothing: it is read-only. */
    async inbox(pairId: string, userId: string): Promise<InboxEntry[]> {
      const now = clock.now();
      const { active } = await sources.membership(pairId);
      if (!active) return [];
      const items = (await Promise.all(sources.inbox.map((source) => source(pairId, userId, now)))).flat();
      items.sort(
        (a, b) =>
          a.since.getTime() - b.since.getTime() ||
          a.type.localeCompare(b.type) ||
          a.subjectId.localeCompare(b.subjectId),
      );
      return items.map((item) => {
        const href = `/v1/pairs/${pairId}/${collections[item.subjectType]}/${item.subjectId}`;
        return {
          type: item.type,
          subjectType: item.subjectType,
          subjectId: item.subjectId,
          revision: item.revision,
          href,
          actions: answers[item.type](item).map((path) => `${href}/${path}`),
          since: item.since.toISOString(),
          until: item.until?.toISOString() ?? null,
        };
      });
    },
  };
}

export type ConsistencyService = ReturnType<typeof createConsistencyService>;
