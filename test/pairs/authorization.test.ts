import { afterAll, beforeAll, describe } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { authorizationMatrix, membersOnly, row } from "../helpers/matrix.js";

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ passwordHasher: fastHasher });
});
afterAll(() => t.close());

describe("authorization matrix: pairs, history and consistency", () => {
  authorizationMatrix(
    () => t,
    [
      row("get", (w) => `/v1/pairs/${w.pairId}`, membersOnly(200)),
      row("get", (w) => `/v1/pairs/${w.pairId}/events`, membersOnly(200)),
      row("get", (w) => `/v1/pairs/${w.pairId}/verify`, membersOnly(200)),
      row("get", (w) => `/v1/pairs/${w.pairId}/checkpoint`, membersOnly(200)),
      row("post", (w) => `/v1/pairs/${w.pairId}/leave`, membersOnly(200)),
      // Another pair's id, and a malformed id, look exactly like ids that do not exist.
      row("get", (w) => `/v1/pairs/${w.strangerPairId}`, {
        owner: 404,
        partner: 404,
        stranger: 200,
        loner: 404,
        anonymous: 401,
      }),
      row("get", () => "/v1/pairs/not-a-uuid/events", {
        owner: 404,
        partner: 404,
        stranger: 404,
        loner: 404,
        anonymous: 401,
      }),
      // 404 comes before 400: an outsider learns nothing even from a bad query.
      row("get", (w) => `/v1/pairs/${w.pairId}/events?limit=5000`, membersOnly(400)),
      row("get", (w) => `/v1/pairs/${w.pairId}/consistency`, membersOnly(200)),
      row("get", (w) => `/v1/pairs/${w.pairId}/consistency?window=all`, membersOnly(200)),
      row("get", (w) => `/v1/pairs/${w.pairId}/consistency?window=365d`, membersOnly(400)),
      row("get", (w) => `/v1/pairs/${w.strangerPairId}/consistency`, {
        owner: 404,
        partner: 404,
        stranger: 200,
        loner: 404,
        anonymous: 401,
      }),
      row("get", (w) => `/v1/pairs/${w.pairId}/consistency/trend`, membersOnly(200)),
      row("get", (w) => `/v1/pairs/${w.pairId}/consistency/trend?bucket=week&weeks=104`, membersOnly(200)),
      row("get", (w) => `/v1/pairs/${w.pairId}/consistency/trend?weeks=105`, membersOnly(400)),
      row("get", (w) => `/v1/pairs/${w.pairId}/inbox`, membersOnly(200)),
      row("get", (w) => `/v1/pairs/${w.pairId}/inbox?limit=5`, membersOnly(400)),
      row("get", () => "/v1/pairs/not-a-uuid/inbox", {
        owner: 404,
        partner: 404,
        stranger: 404,
        loner: 404,
        anonymous: 401,
      }),
    ],
  );
});
