import { expect, it } from "vitest";
import type { TestApp } from "./app.js";
import { type LinkedPair, linkPair } from "./pairs.js";
import { registerUser, type SignedInUser } from "./users.js";

/**
 * The authorization matrix: every `{pairId}` route, called by each kind of
 * caller, with the status each must get. Adding a route is one `row(...)`.
 */
export type Caller = "owner" | "partner" | "stranger" | "loner" | "anonymous";

export type World = LinkedPair & {
  owner: SignedInUser;
  partner: SignedInUser;
  /** A member of another pair. */
  stranger: SignedInUser;
  strangerPairId: string;
  /** Signed in, in no pair. */
  loner: SignedInUser;
  /** Ids a row's `setup` created (a commitment, a boundary…), for its path. */
  ids: Record<string, string>;
};

export type MatrixRow = {
  method: "get" | "post" | "patch" | "delete";
  path: (world: World) => string;
  body?: (world: World) => object;
  /** Creates the row's subject (as the owner) before each call. */
  setup?: (t: TestApp, world: World) => Promise<void>;
  expect: Record<Caller, number>;
};

/** Members may read; outsiders see nothing (404) and anonymous callers must sign in (401). */
export const membersOnly = (owner: number, partner = owner): Record<Caller, number> => ({
  owner,
  partner,
  stranger: 404,
  loner: 404,
  anonymous: 401,
});

export const row = (
  method: MatrixRow["method"],
  path: MatrixRow["path"],
  expectations: Record<Caller, number>,
  extra: Pick<MatrixRow, "body" | "setup"> = {},
): MatrixRow => ({ method, path, expect: expectations, ...extra });

async function buildWorld(t: TestApp): Promise<World> {
  const pair = await linkPair(t);
  const other = await linkPair(t);
  return {
    ...pair,
    owner: pair.inviter,
    partner: pair.joiner,
    stranger: other.inviter,
    strangerPairId: other.pairId,
    loner: await registerUser(t),
    ids: {},
  };
}

const callers: Caller[] = ["anonymous", "loner", "stranger", "partner", "owner"];

/**
 * One test per row and caller, each on a fresh world so a write by one
 * caller cannot change what the next one sees.
 */
export function authorizationMatrix(getApp: () => TestApp, rows: MatrixRow[]): void {
  for (const r of rows) {
    for (const caller of callers) {
      const name = `${r.method.toUpperCase()} ${r.path(placeholderWorld)} as ${caller} → ${r.expect[caller]}`;
      it(name, async () => {
        const t = getApp();
        const world = await buildWorld(t);
        await r.setup?.(t, world);
        let request = t.http[r.method](r.path(world));
        if (caller !== "anonymous") request = request.set(world[caller].auth);
        if (r.body) request = request.send(r.body(world));
        const response = await request;
        expect(response.status, JSON.stringify(response.body)).toBe(r.expect[caller]);
      });
    }
  }
}

/** Shows route shapes in test names. */
const placeholderWorld = new Proxy({} as World, {
  get: (_target, key) =>
    key === "ids"
      ? new Proxy({}, { get: (_t, id) => `{${String(id)}}` })
      : key === "pairId"
        ? "{pairId}"
        : `{${String(key)}}`,
});
