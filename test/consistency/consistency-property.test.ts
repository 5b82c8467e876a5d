import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { boundaryPath } from "../helpers/boundaries.js";
import { DAY, HOUR } from "../helpers/clock.js";
import { figures, trend } from "../helpers/commitments.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { linkPair } from "../helpers/pairs.js";
import { advanceClock, registerUser, type SignedInUser } from "../helpers/users.js";

/**
 * Property: whatever legal sequence of transitions two partners go
 * through (and however time passes), the figures and the trend the API
 * answers equal those recomputed naively from the pair's event log alone.
 */

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ passwordHasher: fastHasher, env: { KEPT_REFRESH_TOKEN_TTL_DAYS: "365" } });
});
afterAll(() => t.close());

const CATEGORIES = ["time", "communication", "honesty", "finances", "household", "social", "care", "other"];
const ZONES = ["Europe/Paris", "America/New_York", "Pacific/Auckland", "Asia/Kolkata", "UTC"];
const WINDOWS: [string, number | null][] = [
  ["7d", 7],
  ["30d", 30],
  ["90d", 90],
  ["all", null],
];

// ── The commands fast-check generates: intents, mapped at run time onto a legal target (or skipped).
const who = fc.constantFrom(0, 1);
const pick = fc.nat(1000);
const command = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("create" as const),
      who,
      category: fc.constantFrom(...CATEGORIES),
      // Mostly due within days (so time passing settles them), some weeks away (so windows differ).
      dueInHours: fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 1, max: 72 }) },
        { weight: 1, arbitrary: fc.integer({ min: 1, max: 24 * 40 }) },
      ),
      graceMinutes: fc.constantFrom(0, 15, 120),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("report" as const), pick, kept: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("confirm" as const), pick }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("dispute" as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("withdraw" as const), pick }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("reschedule" as const),
      pick,
      toInHours: fc.integer({ min: 1, max: 24 * 20 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("answerReschedule" as const), pick, accept: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("acknowledge" as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("acceptAcknowledgement" as const), pick }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("edit" as const), pick, category: fc.constantFrom(...CATEGORIES) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("request" as const),
      who,
      dueInHours: fc.integer({ min: 2, max: 24 * 10 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("acceptRequest" as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("proposeBoundary" as const), who }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("acceptBoundary" as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reviseBoundary" as const), pick, who }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("acceptRevision" as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("withdrawBoundary" as const), pick, who }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      hours: fc.oneof(fc.integer({ min: 1, max: 36 }), fc.integer({ min: 1, max: 24 * 12 })),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("leave" as const), who, rare: fc.nat(9) }) },
);
type Command = typeof command extends fc.Arbitrary<infer C> ? C : never;

type Commitment = {
  id: string;
  ownerId: string;
  status: string;
  outcome: string | null;
  dueAt: string;
  pendingReschedule: unknown;
  acknowledgement: { acceptedAt: string | null } | null;
  lapsedAt: string | null;
};
type Request = { id: string; ownerId: string; status: string; dueAt: string };
type Boundary = {
  id: string;
  status: string;
  proposedBy: string;
  pendingRevision: { version: number; proposedBy: string } | null;
};

/** Runs one generated history through the API, choosing only transitions the rules allow. */
async function play(commands: Command[], zones: [string, string]) {
  const members = [
    await registerUser(t, { displayName: "Alex", timeZone: zones[0] }),
    await registerUser(t, { displayName: "Blake", timeZone: zones[1] }),
  ] as [SignedInUser, SignedInUser];
  const { pairId } = await linkPair(t, members[0], members[1]);
  const commitments = new Map<string, Commitment>();
  const requests = new Map<string, Request>();
  const boundaries = new Map<string, Boundary>();
  let active = true;
  let texts = 0;

  const now = () => t.clock.now().getTime();
  const later = (hours: number) => new Date(now() + hours * HOUR).toISOString();
  const owner = (c: Commitment) => (c.ownerId === members[0].id ? members[0] : members[1]);
  const partnerOf = (id: string) => (id === members[0].id ? members[1] : members[0]);
  const choose = <T>(items: T[], n: number): T | undefined => items[n % Math.max(1, items.length)];
  const open = (c: Commitment) => c.status === "open" && now() < Date.parse(c.dueAt);
  const step = async (c: Commitment, as: SignedInUser, path: string, body: object = {}) => {
    const response = await t.http.post(`/v1/pairs/${pairId}/commitments/${c.id}/${path}`).set(as.auth).send(body);
    expect(response.status, `${path}: ${JSON.stringify(response.body)}`).toBe(200);
    commitments.set(c.id, response.body);
  };
  const boundaryStep = async (b: Boundary, as: SignedInUser, path: string, body: object = {}) => {
    const response = await t.http
      .post(boundaryPath(pairId, b.id, path))
      .set(as.auth)
      .send(body);
    expect(response.status, `${path}: ${JSON.stringify(response.body)}`).toBeLessThan(300);
    if (response.body.status) boundaries.set(b.id, response.body);
    return response.body;
  };
  /** After time passed, the sweep may have changed anything: read it all back. */
  const reload = async () => {
    for (const [path, into] of [
      ["commitments", commitments],
      ["requests", requests],
      ["boundaries", boundaries],
    ] as const) {
      let cursor: string | null = null;
      do {
        const query: string = cursor ? `&cursor=${cursor}` : "";
        const page = await t.http.get(`/v1/pairs/${pairId}/${path}?limit=100${query}`).set(members[0].auth).expect(200);
        for (const item of page.body.data) (into as Map<string, unknown>).set(item.id, item);
        cursor = page.body.nextCursor;
      } while (cursor);
    }
  };

  for (const cmd of commands) {
    const all = [...commitments.values()];
    if (cmd.kind === "advance") {
      await advanceClock(t, cmd.hours * HOUR, ...members);
      await t.app.sweeper.runOnce();
      await reload();
      continue;
    }
    if (!active) continue;
    switch (cmd.kind) {
      case "create": {
        const response = await t.http
          .post(`/v1/pairs/${pairId}/commitments`)
          .set(members[cmd.who].auth)
          .send({
            title: "Promise",
            category: cmd.category,
            dueAt: later(cmd.dueInHours),
            graceMinutes: cmd.graceMinutes,
          })
          .expect(201);
        commitments.set(response.body.id, response.body);
        break;
      }
      case "report": {
        const c = choose(
          all.filter((x) => ["open", "lapsed", "disputed"].includes(x.status)),
          cmd.pick,
        );
        if (c) await step(c, owner(c), "report", { outcome: cmd.kept ? "kept" : "missed" });
        break;
      }
      case "confirm": {
        const c = choose(
          all.filter((x) => ["reported", "disputed"].includes(x.status)),
          cmd.pick,
        );
        if (c) await step(c, partnerOf(c.ownerId), "confirm");
        break;
      }
      case "dispute": {
        const c = choose(
          all.filter((x) => x.status === "reported"),
          cmd.pick,
        );
        if (c) await step(c, partnerOf(c.ownerId), "dispute", { note: "I saw it differently" });
        break;
      }
      case "withdraw": {
        const c = choose(all.filter(open), cmd.pick);
        if (c) await step(c, owner(c), "withdraw", { reason: "Plans changed" });
        break;
      }
      case "reschedule": {
        const c = choose(
          all.filter((x) => open(x) && !x.pendingReschedule),
          cmd.pick,
        );
        if (c) await step(c, owner(c), "reschedule", { dueAt: later(cmd.toInHours) });
        break;
      }
      case "answerReschedule": {
        const c = choose(
          all.filter((x) => open(x) && x.pendingReschedule),
          cmd.pick,
        );
        if (c) await step(c, partnerOf(c.ownerId), cmd.accept ? "reschedule/accept" : "reschedule/decline");
        break;
      }
      case "acknowledge": {
        const c = choose(
          all.filter(
            (x) =>
              !x.acknowledgement &&
              ["reported", "confirmed", "disputed", "lapsed"].includes(x.status) &&
              (x.outcome === "missed" || x.lapsedAt !== null),
          ),
          cmd.pick,
        );
        if (c) await step(c, owner(c), "acknowledgement", { text: "I am sorry" });
        break;
      }
      case "acceptAcknowledgement": {
        const c = choose(
          all.filter((x) => x.acknowledgement && !x.acknowledgement.acceptedAt),
          cmd.pick,
        );
        if (c) await step(c, partnerOf(c.ownerId), "acknowledgement/accept");
        break;
      }
      case "edit": {
        const c = choose(
          all.filter((x) => x.status === "open"),
          cmd.pick,
        );
        if (c) {
          const response = await t.http
            .patch(`/v1/pairs/${pairId}/commitments/${c.id}`)
            .set(owner(c).auth)
            .send({ category: cmd.category })
            .expect(200);
          commitments.set(c.id, response.body);
        }
        break;
      }
      case "request": {
        const response = await t.http
          .post(`/v1/pairs/${pairId}/requests`)
          .set(members[cmd.who].auth)
          .send({ title: "Could you?", dueAt: later(cmd.dueInHours) })
          .expect(201);
        requests.set(response.body.id, response.body);
        break;
      }
      case "acceptRequest": {
        const r = choose(
          [...requests.values()].filter((x) => x.status === "pending" && now() < Date.parse(x.dueAt)),
          cmd.pick,
        );
        if (!r) break;
        const response = await t.http
          .post(`/v1/pairs/${pairId}/requests/${r.id}/accept`)
          .set(r.ownerId === members[0].id ? members[0].auth : members[1].auth)
          .expect(200);
        requests.set(r.id, response.body.request);
        commitments.set(response.body.commitment.id, response.body.commitment);
        break;
      }
      case "proposeBoundary": {
        const response = await t.http
          .post(boundaryPath(pairId))
          .set(members[cmd.who].auth)
          .send({ title: `Boundary ${++texts}`, text: "We agree on this.", category: "other" })
          .expect(201);
        boundaries.set(response.body.id, response.body);
        break;
      }
      case "acceptBoundary": {
        const b = choose(
          [...boundaries.values()].filter((x) => x.status === "proposed"),
          cmd.pick,
        );
        if (b) await boundaryStep(b, partnerOf(b.proposedBy), "/accept");
        break;
      }
      case "reviseBoundary": {
        const b = choose(
          [...boundaries.values()].filter((x) => x.status === "agreed" && !x.pendingRevision),
          cmd.pick,
        );
        if (!b) break;
        const revision = await boundaryStep(b, members[cmd.who], "/revisions", { text: `Revised ${++texts}` });
        boundaries.set(b.id, { ...b, pendingRevision: revision });
        break;
      }
      case "acceptRevision": {
        const b = choose(
          [...boundaries.values()].filter((x) => x.status === "agreed" && x.pendingRevision),
          cmd.pick,
        );
        const revision = b?.pendingRevision;
        if (b && revision)
          await boundaryStep(b, partnerOf(revision.proposedBy), `/revisions/${revision.version}/accept`);
        break;
      }
      case "withdrawBoundary": {
        const b = choose(
          [...boundaries.values()].filter((x) => x.status === "agreed"),
          cmd.pick,
        );
        if (b) await boundaryStep(b, members[cmd.who], "/withdraw", { reason: "Not any more" });
        break;
      }
      case "leave": {
        // Rarely: a history usually goes on.
        if (cmd.rare !== 0) break;
        await t.http.post(`/v1/pairs/${pairId}/leave`).set(members[cmd.who].auth).expect(200);
        active = false;
        await reload();
        break;
      }
    }
  }
  return { pairId, members };
}

// ── The naive side: everything below reads only the event log.

type Event = { seq: number; type: string; subjectId: string; payload: Record<string, unknown>; occurredAt: string };
type Replayed = {
  id: string;
  ownerId: string;
  category: string;
  dueAt: number;
  status: string;
  outcome: string | null;
  timing: string | null;
  lapsed: boolean;
  acknowledged: boolean;
  accepted: boolean;
};

async function eventsOf(pairId: string, as: SignedInUser): Promise<Event[]> {
  const events: Event[] = [];
  let after = 0;
  while (true) {
    const page = await t.http.get(`/v1/pairs/${pairId}/events?after=${after}&limit=100`).set(as.auth).expect(200);
    events.push(...page.body.data);
    if (!page.body.nextCursor) return events;
    after = Number(page.body.nextCursor);
  }
}

function replay(events: Event[]) {
  const commitments = new Map<string, Replayed>();
  const boundaries = new Map<string, { status: string; closedAt: number | null }>();
  const revisionsAgreedAt: number[] = [];
  for (const event of events) {
    const p = event.payload;
    const at = Date.parse(event.occurredAt);
    const c = commitments.get(event.subjectId);
    switch (event.type) {
      case "commitment.created":
        commitments.set(event.subjectId, {
          id: event.subjectId,
          ownerId: p.ownerId as string,
          category: p.category as string,
          dueAt: Date.parse(p.dueAt as string),
          status: "open",
          outcome: null,
          timing: null,
          lapsed: false,
          acknowledged: false,
          accepted: false,
        });
        break;
      case "commitment.updated":
        if (c && typeof p.category === "string") c.category = p.category;
        break;
      case "commitment.rescheduled":
        if (c) c.dueAt = Date.parse(p.toDueAt as string);
        break;
      case "commitment.reported":
        if (c) Object.assign(c, { status: "reported", outcome: p.outcome, timing: p.timing });
        break;
      case "commitment.confirmed":
      case "commitment.dispute_withdrawn":
        if (c) c.status = "confirmed";
        break;
      case "commitment.disputed":
        if (c) c.status = "disputed";
        break;
      case "commitment.withdrawn":
        if (c) c.status = "withdrawn";
        break;
      case "commitment.lapsed":
        if (c) Object.assign(c, { status: "lapsed", lapsed: true });
        break;
      case "commitment.acknowledged":
        if (c) c.acknowledged = true;
        break;
      case "commitment.acknowledgement_accepted":
        if (c) c.accepted = true;
        break;
      case "boundary.proposed":
      case "boundary.agreed":
      case "boundary.declined":
      case "boundary.cancelled":
      case "boundary.withdrawn":
      case "boundary.ended":
        boundaries.set(event.subjectId, { status: p.status as string, closedAt: at });
        break;
      case "boundary.revised":
        revisionsAgreedAt.push(at);
        break;
    }
  }
  return { commitments: [...commitments.values()], boundaries: [...boundaries.values()], revisionsAgreedAt };
}

/** The design's "Settled" rule, from the replayed state. */
function classOf(c: Replayed): string {
  if (c.status === "withdrawn" || c.status === "open") return c.status;
  if (c.lapsed && c.status !== "confirmed") return "lapsed";
  if (c.status === "reported") return "awaitingConfirmation";
  if (c.status === "disputed") return "disputed";
  return c.outcome === "kept" ? "kept" : "missed";
}

function naiveFigures(list: Replayed[]) {
  const count = (cls: string) => list.filter((c) => classOf(c) === cls).length;
  const kept = count("kept");
  const settled = kept + count("missed") + count("lapsed");
  const walk = list
    .filter((c) => ["kept", "missed", "lapsed"].includes(classOf(c)))
    .sort((a, b) => a.dueAt - b.dueAt || (a.id < b.id ? -1 : 1));
  let run = 0;
  let longest = 0;
  for (const c of walk) {
    run = classOf(c) === "kept" ? run + 1 : 0;
    longest = Math.max(longest, run);
  }
  const inTime = list.filter(
    (c) => ["kept", "missed"].includes(classOf(c)) && (c.timing === "early" || c.timing === "onTime"),
  ).length;
  return {
    kept,
    missed: count("missed"),
    lapsed: count("lapsed"),
    withdrawn: count("withdrawn"),
    disputed: count("disputed"),
    awaitingConfirmation: count("awaitingConfirmation"),
    open: count("open"),
    keptRate: settled === 0 ? null : kept / settled,
    onTimeReportRate: settled === 0 ? null : inTime / settled,
    currentStreak: run,
    longestStreak: longest,
    acknowledgedMisses: list.filter((c) => c.acknowledged).length,
    acknowledgementsAccepted: list.filter((c) => c.accepted).length,
  };
}

/** A local calendar date (YYYY-MM-DD) and ISO weekday (1 = Monday) of an instant in a zone, by Intl. */
function localDay(at: number, zone: string): { date: string; weekday: number } {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    weekday: "short",
  }).formatToParts(new Date(at));
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
  const weekday = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].indexOf(part("weekday")) + 1;
  return { date: `${part("year")}-${part("month")}-${part("day")}`, weekday };
}
const mondayOf = (at: number, zone: string) => {
  const { date, weekday } = localDay(at, zone);
  return new Date(Date.parse(`${date}T00:00:00Z`) - (weekday - 1) * DAY).toISOString().slice(0, 10);
};
const minusWeeks = (day: string, weeks: number) =>
  new Date(Date.parse(`${day}T00:00:00Z`) - weeks * 7 * DAY).toISOString().slice(0, 10);

async function check(pairId: string, members: [SignedInUser, SignedInUser], zones: [string, string], weeks: number) {
  const { commitments, boundaries, revisionsAgreedAt } = replay(await eventsOf(pairId, members[1]));
  const now = t.clock.now().getTime();
  for (const [window, days] of WINDOWS) {
    const since = days === null ? Number.NEGATIVE_INFINITY : now - days * DAY;
    const inWindow = commitments.filter((c) => c.dueAt >= since);
    const expected = {
      members: members.map((m) => {
        const own = inWindow.filter((c) => c.ownerId === m.id);
        return {
          userId: m.id,
          ...naiveFigures(own),
          byCategory: Object.fromEntries(
            CATEGORIES.map((cat) => [cat, naiveFigures(own.filter((c) => c.category === cat))]),
          ),
        };
      }),
      boundaries: {
        agreed: boundaries.filter((b) => b.status === "agreed").length,
        revisions: revisionsAgreedAt.filter((at) => at >= since).length,
        withdrawn: boundaries.filter((b) => b.status === "withdrawn" && (b.closedAt ?? 0) >= since).length,
      },
    };
    const asFirst = await figures(t, pairId, members[0], window);
    expect(await figures(t, pairId, members[1], window)).toEqual(asFirst);
    expect({ members: asFirst.members, boundaries: asFirst.boundaries }, window).toEqual(expected);
  }

  const answered = await trend(t, pairId, members[0], weeks);
  expect(await trend(t, pairId, members[1], weeks)).toEqual(answered);
  expect(answered.members).toEqual(
    members.map((m, i) => {
      const zone = zones[i] as string;
      const current = mondayOf(now, zone);
      const starts = Array.from({ length: weeks }, (_, k) => minusWeeks(current, weeks - 1 - k));
      const own = commitments.filter((c) => c.ownerId === m.id);
      return {
        userId: m.id,
        points: starts.map((weekStart) => {
          const inWeek = own.filter((c) => mondayOf(c.dueAt, zone) === weekStart).map(classOf);
          const [kept, missed, lapsed] = ["kept", "missed", "lapsed"].map(
            (cls) => inWeek.filter((x) => x === cls).length,
          ) as [number, number, number];
          const settled = kept + missed + lapsed;
          return { weekStart, kept, missed, lapsed, keptRate: settled === 0 ? null : kept / settled };
        }),
      };
    }),
  );
}

describe("the figures, against the event log (property-based)", () => {
  it("equal those recomputed naively from the events, for any legal history", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(command, { minLength: 5, maxLength: 60 }),
        fc.tuple(fc.constantFrom(...ZONES), fc.constantFrom(...ZONES)),
        fc.integer({ min: 1, max: 30 }),
        async (commands, zones, weeks) => {
          const { pairId, members } = await play(commands, zones);
          await check(pairId, members, zones, weeks);
        },
      ),
      { numRuns: 80 },
    );
  }, 240_000);
});
