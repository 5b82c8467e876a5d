import type autocannon from "autocannon";
import { chainHash } from "../src/modules/history/index.js";
import { type Figure, measure } from "./runner.js";
import { call, DUE, type Member, memoryOf, PASSWORD, type Pair, resetPeak, settings, type World } from "./world.js";

/**
 * The table of figures: one entry per figure, in the order they are
 * measured and reported. A baseline is a figure of its own on the bare
 * server; every other names the baseline its ratio is taken to.
 */

const LONG_CHAIN = 10_000;

type RoundContext = { pair?: Pair; id?: string };

export function figuresOf(world: World): Figure[] {
  const { kept, bare, sql, pairs, readPair, onePair } = world;
  const bearer = (member: Member) => ({ authorization: `Bearer ${member.token}` });
  const json = { "content-type": "application/json" };
  let spread = 0;
  const writeBody = JSON.stringify({ title: "Home by seven", dueAt: DUE });
  let roundPair = 0;
  const openByPair = new Map<string, string[]>();
  const longChainPair = pairs[4] as Pair;
  // Asked once, for both consistency figures.
  let probed: Promise<string | undefined> | undefined;
  const consistencyMissing = () => {
    probed ??= call(kept, "GET", `/v1/pairs/${readPair.id}/consistency`, undefined, readPair.owner.token).then(
      (probe) =>
        probe.status === 404 && probe.body?.code === "ROUTE_NOT_FOUND"
          ? "GET …/consistency is not in this build (it answers 404)"
          : undefined,
    );
    return probed;
  };

  return [
    {
      name: "baseline: constant JSON",
      what: "bare Fastify route answering a constant",
      baseline: null,
      load: () => ({
        url: bare.baseUrl,
        connections: settings.connections,
        requests: [{ method: "GET", path: "/bare/constant" }],
      }),
    },
    {
      name: "baseline: single INSERT",
      what: "bare route, one parameterised INSERT of a commitment row",
      baseline: null,
      load: () => ({
        url: bare.baseUrl,
        connections: settings.connections,
        requests: [
          {
            method: "POST",
            path: "/bare/commitments",
            headers: json,
            body: JSON.stringify({
              pairId: onePair.id,
              ownerId: onePair.owner.id,
              title: "Home by seven",
              dueAt: DUE,
            }),
          },
        ],
      }),
    },
    {
      name: "baseline: read 50 rows",
      what: "bare route, 50 events by (pair_id, seq)",
      baseline: null,
      load: () => ({
        url: bare.baseUrl,
        connections: settings.connections,
        requests: [{ method: "GET", path: `/bare/events/${readPair.id}` }],
      }),
    },
    {
      name: "baseline: argon2id verify",
      what: "bare route, one argon2id verification (OWASP parameters)",
      baseline: null,
      load: () => ({
        url: bare.baseUrl,
        connections: settings.burst,
        requests: [
          { method: "POST", path: "/bare/argon2", headers: json, body: JSON.stringify({ password: PASSWORD }) },
        ],
      }),
    },
    {
      name: "GET /healthz",
      what: "Kept's plumbing (helmet, CORS, request ids) on a constant answer",
      baseline: "baseline: constant JSON",
      load: () => ({
        url: kept.baseUrl,
        connections: settings.connections,
        requests: [{ method: "GET", path: "/healthz" }],
      }),
    },
    {
      name: "create commitment, many pairs",
      what: `POST …/commitments, real access tokens, round-robin over ${settings.pairs} pairs`,
      baseline: "baseline: single INSERT",
      target: { minThroughputRatio: 0.5, maxP99Ms: 25 },
      load: () => ({
        url: kept.baseUrl,
        connections: settings.connections,
        requests: [
          {
            method: "POST",
            setupRequest: (request) => {
              const pair = pairs[spread++ % pairs.length] as Pair;
              const member = spread % 2 === 0 ? pair.owner : pair.partner;
              return {
                ...request,
                path: `/v1/pairs/${pair.id}/commitments`,
                headers: { ...json, ...bearer(member) },
                body: writeBody,
              };
            },
          },
        ],
      }),
    },
    {
      name: "create commitment, one pair",
      what: "the same, all on one pair (its writes serialise by design)",
      baseline: "baseline: single INSERT",
      load: () => ({
        url: kept.baseUrl,
        connections: settings.connections,
        requests: [
          {
            method: "POST",
            path: `/v1/pairs/${onePair.id}/commitments`,
            headers: { ...json, ...bearer(onePair.owner) },
            body: writeBody,
          },
        ],
      }),
    },
    {
      name: "report + confirm round",
      what: "owner reports kept, partner confirms (2 requests per round; figure in requests/s)",
      baseline: "baseline: single INSERT",
      setup: async () => {
        // Open commitments for the rounds, written directly (their creation is not what is measured).
        await sql.query(
          `INSERT INTO commitments (id, pair_id, owner_id, title, category, due_at, grace_minutes, lapses_at, status, created_at, updated_at)
           SELECT gen_random_uuid(), p.pair_id, p.owner_id, 'Round ' || g, 'other', $1::timestamptz, 15, $1::timestamptz + interval '15 minutes', 'open', now(), now()
           FROM unnest($2::uuid[], $3::uuid[]) AS p(pair_id, owner_id), generate_series(1, 400) AS g`,
          [DUE, pairs.map((p) => p.id), pairs.map((p) => p.owner.id)],
        );
        for (const row of (
          await sql.query<{ id: string; pair_id: string }>(
            "SELECT id, pair_id FROM commitments WHERE title LIKE 'Round %'",
          )
        ).rows) {
          openByPair.set(row.pair_id, [...(openByPair.get(row.pair_id) ?? []), row.id]);
        }
        return undefined;
      },
      load: () => ({
        url: kept.baseUrl,
        connections: settings.connections,
        requests: [
          {
            method: "POST",
            setupRequest: (request, context) => {
              const pair = pairs[roundPair++ % pairs.length] as Pair;
              const id = openByPair.get(pair.id)?.pop() ?? "00000000-0000-7000-8000-000000000000";
              Object.assign(context, { pair, id } satisfies RoundContext);
              return {
                ...request,
                path: `/v1/pairs/${pair.id}/commitments/${id}/report`,
                headers: { ...json, ...bearer(pair.owner) },
                body: JSON.stringify({ outcome: "kept" }),
              };
            },
          },
          {
            method: "POST",
            setupRequest: (request, context) => {
              const { pair, id } = context as RoundContext;
              if (!pair) throw new Error("confirm before report");
              return {
                ...request,
                path: `/v1/pairs/${pair.id}/commitments/${id}/confirm`,
                headers: bearer(pair.partner),
              };
            },
          },
        ],
      }),
    },
    {
      name: "GET …/events?limit=50",
      what: "the timeline, 50 events, real access token",
      baseline: "baseline: read 50 rows",
      target: { minThroughputRatio: 0.8 },
      load: () => ({
        url: kept.baseUrl,
        connections: settings.connections,
        requests: [
          { method: "GET", path: `/v1/pairs/${readPair.id}/events?limit=50`, headers: bearer(readPair.owner) },
        ],
      }),
    },
    {
      name: "GET …/events beside an /openapi.json flood and /verify (10,000 events)",
      what: "the timeline read while one client floods /openapi.json and another calls /verify on a 10,000-event pair, each with one connection, no pause",
      baseline: "GET …/events?limit=50",
      target: { minThroughputRatio: 0.8 },
      setup: () => seedLongChain(world, longChainPair),
      load: () => ({
        url: kept.baseUrl,
        connections: settings.connections,
        requests: [
          { method: "GET", path: `/v1/pairs/${readPair.id}/events?limit=50`, headers: bearer(readPair.owner) },
        ],
      }),
      around: async (run) => {
        // Both start first and end after the measured read, so they cover all of it.
        const beside = (request: autocannon.Request) =>
          measure({ url: kept.baseUrl, connections: 1, requests: [request] }, settings.durationSeconds + 1);
        const flood = beside({ method: "GET", path: "/openapi.json" });
        const verify = beside({
          method: "GET",
          path: `/v1/pairs/${longChainPair.id}/verify`,
          headers: bearer(longChainPair.owner),
        });
        const sample = await run();
        const [flooded, verified] = await Promise.all([flood, verify]);
        return {
          ...sample,
          extra: {
            openapiPerS: flooded.throughput,
            openapiNon2xx: flooded.non2xx,
            verifyPerS: verified.throughput,
            verifyP99Ms: verified.p99,
            verifyNon2xx: verified.non2xx,
          },
        };
      },
    },
    ...(
      [
        [100, pairs[2] as Pair],
        [10_000, pairs[3] as Pair],
      ] as const
    ).map(
      ([size, pair]): Figure => ({
        name: `GET …/consistency (${size.toLocaleString("en")} commitments)`,
        what: "per-partner figures over window=all — slot for the consistency module",
        baseline: "baseline: read 50 rows",
        setup: async () => {
          const missing = await consistencyMissing();
          if (missing) return missing;
          // Settled in a mix of outcomes.
          await sql.query(
            `INSERT INTO commitments (id, pair_id, owner_id, title, category, due_at, grace_minutes, lapses_at, status, outcome,
               reported_at, report_timing, confirmation_state, confirmation_auto, confirmation_at, created_at, updated_at)
             SELECT gen_random_uuid(), $1, CASE WHEN g % 2 = 0 THEN $2::uuid ELSE $3::uuid END, 'Settled ' || g,
               (ARRAY['time','communication','honesty','finances','household','social','care','other'])[1 + g % 8],
               now() - (g || ' hours')::interval, 15, now() - (g || ' hours')::interval + interval '15 minutes',
               'confirmed', CASE WHEN g % 5 = 0 THEN 'missed' ELSE 'kept' END,
               now() - (g || ' hours')::interval, 'onTime', 'confirmed', false, now(), now(), now()
             FROM generate_series(1, $4::int) AS g`,
            [pair.id, pair.owner.id, pair.partner.id, size],
          );
          return undefined;
        },
        load: () => {
          return {
            url: kept.baseUrl,
            connections: settings.connections,
            requests: [
              { method: "GET", path: `/v1/pairs/${pair.id}/consistency?window=all`, headers: bearer(pair.owner) },
            ],
          };
        },
      }),
    ),
    {
      name: `login burst (${settings.burst} concurrent)`,
      what: "POST /v1/auth/login, correct passwords, round-robin over accounts; hashing bounded",
      baseline: "baseline: argon2id verify",
      load: () => {
        let next = 0;
        const members = pairs.flatMap((p) => [p.owner, p.partner]);
        return {
          url: kept.baseUrl,
          connections: settings.burst,
          requests: [
            {
              method: "POST",
              path: "/v1/auth/login",
              headers: json,
              setupRequest: (request) => ({
                ...request,
                body: JSON.stringify({
                  email: (members[next++ % members.length] as Member).email,
                  password: PASSWORD,
                }),
              }),
            },
          ],
        };
      },
      around: async (run) => {
        const pid = kept.child.pid as number;
        const before = memoryOf(pid);
        await resetPeak(pid);
        const sample = await run();
        const after = memoryOf(pid);
        if (kept.child.exitCode !== null) throw new Error(`the service died during the login burst:\n${kept.stderr()}`);
        return {
          ...sample,
          extra: {
            rssBeforeMiB: before.rssMiB,
            peakRssMiB: after.peakMiB,
            rssAfterMiB: after.rssMiB,
            refused503: sample.statusCounts["503"] ?? 0,
            refused429: sample.statusCounts["429"] ?? 0,
          },
        };
      },
    },
  ];
}

/** A pair whose chain holds 10,000 events, for /verify beside the reads; written directly, chained as the service does. */
async function seedLongChain({ sql, kept, started }: World, pair: Pair): Promise<undefined> {
  const head = (
    await sql.query<{ last_seq: number; head_hash: string }>(
      "SELECT last_seq, head_hash FROM event_heads WHERE pair_id = $1",
      [pair.id],
    )
  ).rows[0];
  if (!head) throw new Error("the long-chain pair has no chain head");
  let prevHash = head.head_hash;
  const rows: { seq: number; occurredAt: Date; prevHash: string; hash: string }[] = [];
  const member = pair.owner.id;
  const payload = { userId: member, fields: ["displayName"] };
  for (let seq = Number(head.last_seq) + 1; seq <= LONG_CHAIN; seq++) {
    const occurredAt = new Date(started.getTime() + seq);
    const event = { pairId: pair.id, seq, type: "member.updated", actorId: member, subjectType: "member" };
    const hash = chainHash(prevHash, { ...event, subjectId: member, payload, occurredAt });
    rows.push({ seq, occurredAt, prevHash, hash });
    prevHash = hash;
  }
  await sql.query(
    `INSERT INTO events (pair_id, seq, type, actor_id, subject_type, subject_id, payload, occurred_at, prev_hash, hash)
     SELECT $1, e.seq, 'member.updated', $2, 'member', $2, $3::jsonb, e.occurred_at, e.prev_hash, e.hash
     FROM unnest($4::int[], $5::timestamptz[], $6::text[], $7::text[]) AS e(seq, occurred_at, prev_hash, hash)`,
    [
      pair.id,
      member,
      JSON.stringify(payload),
      rows.map((r) => r.seq),
      rows.map((r) => r.occurredAt.toISOString()),
      rows.map((r) => r.prevHash),
      rows.map((r) => r.hash),
    ],
  );
  await sql.query("UPDATE event_heads SET last_seq = $2, head_hash = $3 WHERE pair_id = $1", [
    pair.id,
    LONG_CHAIN,
    prevHash,
  ]);
  const probe = await call(kept, "GET", `/v1/pairs/${pair.id}/verify`, undefined, pair.owner.token);
  if (!probe.body?.valid || probe.body.lastSeq !== LONG_CHAIN) {
    throw new Error(`the seeded long chain does not verify: ${JSON.stringify(probe.body)}`);
  }
  return undefined;
}
