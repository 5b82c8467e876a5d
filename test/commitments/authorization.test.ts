import { afterAll, beforeAll, describe } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { HOUR } from "../helpers/clock.js";
import { authorizationMatrix, type MatrixRow, membersOnly, row, type World } from "../helpers/matrix.js";

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t.close());

const later = (hours: number) => new Date(t.clock.now().getTime() + hours * HOUR).toISOString();

/** The owner makes a commitment, then takes it through `steps` (each [who, path, body]). */
const commitment =
  (...steps: ["owner" | "partner", string, (() => object)?][]): MatrixRow["setup"] =>
  async (app, w) => {
    const created = await app.http
      .post(`/v1/pairs/${w.pairId}/commitments`)
      .set(w.owner.auth)
      .send({ title: "Home at 7", dueAt: later(5) })
      .expect(201);
    w.ids.c = created.body.id;
    for (const [who, path, body] of steps) {
      await app.http
        .post(`/v1/pairs/${w.pairId}/commitments/${w.ids.c}/${path}`)
        .set(w[who].auth)
        .send(body?.() ?? {})
        .expect(200);
    }
  };

/** The partner asks the owner. */
const request: MatrixRow["setup"] = async (app, w) => {
  const created = await app.http
    .post(`/v1/pairs/${w.pairId}/requests`)
    .set(w.partner.auth)
    .send({ title: "Call me at lunch", dueAt: later(5) })
    .expect(201);
  w.ids.r = created.body.id;
};

/** The owner starts a daily series. */
const series: MatrixRow["setup"] = async (app, w) => {
  const created = await app.http
    .post(`/v1/pairs/${w.pairId}/commitments`)
    .set(w.owner.auth)
    .send({ title: "Walk the dog", dueAt: later(2), recurrence: { rrule: "FREQ=DAILY;COUNT=5" } })
    .expect(201);
  w.ids.s = created.body.seriesId;
};

const c = (w: World, path = "") => `/v1/pairs/${w.pairId}/commitments/${w.ids.c}${path}`;
const r = (w: World, path = "") => `/v1/pairs/${w.pairId}/requests/${w.ids.r}${path}`;
const ownerOnly = membersOnly(200, 409);
const partnerOnly = membersOnly(409, 200);

describe("authorization matrix: commitments and requests", () => {
  authorizationMatrix(
    () => t,
    [
      row("post", (w) => `/v1/pairs/${w.pairId}/commitments`, membersOnly(201), {
        body: () => ({ title: "Walk together", dueAt: later(3) }),
      }),
      row("get", (w) => `/v1/pairs/${w.pairId}/commitments`, membersOnly(200)),
      row("get", (w) => c(w), membersOnly(200), { setup: commitment() }),
      row("get", (w) => c(w, "/texts"), membersOnly(200), {
        setup: commitment(["owner", "report", () => ({ outcome: "kept", note: "Home 18:55" })]),
      }),
      row("patch", (w) => c(w), ownerOnly, { setup: commitment(), body: () => ({ title: "Home at 6" }) }),
      row("post", (w) => c(w, "/report"), ownerOnly, { setup: commitment(), body: () => ({ outcome: "kept" }) }),
      row("post", (w) => c(w, "/confirm"), partnerOnly, {
        setup: commitment(["owner", "report", () => ({ outcome: "kept" })]),
      }),
      row("post", (w) => c(w, "/dispute"), partnerOnly, {
        setup: commitment(["owner", "report", () => ({ outcome: "kept" })]),
        body: () => ({ note: "Not true" }),
      }),
      row("post", (w) => c(w, "/withdraw"), ownerOnly, {
        setup: commitment(),
        body: () => ({ reason: "Plans changed" }),
      }),
      row("post", (w) => c(w, "/reschedule"), ownerOnly, { setup: commitment(), body: () => ({ dueAt: later(8) }) }),
      row("post", (w) => c(w, "/reschedule/accept"), partnerOnly, {
        setup: commitment(["owner", "reschedule", () => ({ dueAt: later(8) })]),
      }),
      row("post", (w) => c(w, "/reschedule/decline"), partnerOnly, {
        setup: commitment(["owner", "reschedule", () => ({ dueAt: later(8) })]),
      }),
      row("post", (w) => c(w, "/reschedule/cancel"), ownerOnly, {
        setup: commitment(["owner", "reschedule", () => ({ dueAt: later(8) })]),
      }),
      row("post", (w) => c(w, "/acknowledgement"), ownerOnly, {
        setup: commitment(["owner", "report", () => ({ outcome: "missed" })]),
        body: () => ({ text: "I let you down; next time I call first." }),
      }),
      row("post", (w) => c(w, "/acknowledgement/accept"), partnerOnly, {
        setup: commitment(
          ["owner", "report", () => ({ outcome: "missed" })],
          ["owner", "acknowledgement", () => ({ text: "Sorry" })],
        ),
      }),
      row("post", (w) => `/v1/pairs/${w.pairId}/requests`, membersOnly(201), {
        body: () => ({ title: "Dinner Friday?", dueAt: later(30) }),
      }),
      row("get", (w) => `/v1/pairs/${w.pairId}/requests`, membersOnly(200)),
      row("get", (w) => r(w), membersOnly(200), { setup: request }),
      // The partner asked; the owner is the one who may answer.
      row("post", (w) => r(w, "/accept"), ownerOnly, { setup: request }),
      row("post", (w) => r(w, "/decline"), ownerOnly, { setup: request }),
      row("post", (w) => r(w, "/cancel"), partnerOnly, { setup: request }),
      row("get", (w) => `/v1/pairs/${w.pairId}/series/${w.ids.s}`, membersOnly(200), { setup: series }),
      row("delete", (w) => `/v1/pairs/${w.pairId}/series/${w.ids.s}`, ownerOnly, { setup: series }),
      // Another pair's commitment (or its texts) through this pair's path is not found.
      row(
        "get",
        (w) => `/v1/pairs/${w.strangerPairId}/commitments/${w.ids.c}/texts`,
        { owner: 404, partner: 404, stranger: 404, loner: 404, anonymous: 401 },
        { setup: commitment() },
      ),
      row(
        "get",
        (w) => `/v1/pairs/${w.strangerPairId}/commitments/${w.ids.c}`,
        {
          owner: 404,
          partner: 404,
          stranger: 404,
          loner: 404,
          anonymous: 401,
        },
        { setup: commitment() },
      ),
    ],
  );
});
