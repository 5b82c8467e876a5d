import { afterAll, beforeAll, describe } from "vitest";
import { buildTestApp, type TestApp } from "../helpers/app.js";
import { agreeBoundary, boundaryPath, proposeBoundary, sampleBoundary } from "../helpers/boundaries.js";
import { fastHasher } from "../helpers/fast-hasher.js";
import { authorizationMatrix, type MatrixRow, membersOnly, row, type World } from "../helpers/matrix.js";

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ passwordHasher: fastHasher });
});
afterAll(() => t.close());

/** The owner proposes. */
const proposed: MatrixRow["setup"] = async (app, w) => {
  w.ids.boundary = (await proposeBoundary(app, w.pairId, w.owner)).id;
};
/** The owner proposes, the partner agrees. */
const agreed: MatrixRow["setup"] = async (app, w) => {
  w.ids.boundary = (await agreeBoundary(app, w.pairId, w.owner, w.partner)).id;
};
/** Agreed, then the owner proposes revision 2. */
const revising: MatrixRow["setup"] = async (app, w) => {
  await agreed(app, w);
  await app.http
    .post(boundaryPath(w.pairId, w.ids.boundary, "/revisions"))
    .set(w.owner.auth)
    .send({ text: "Revised" })
    .expect(201);
};
/** A boundary in the stranger's pair. */
const foreign: MatrixRow["setup"] = async (app, w) => {
  w.ids.foreign = (await proposeBoundary(app, w.strangerPairId, w.stranger)).id;
};

const one = (w: World, rest = "") => boundaryPath(w.pairId, w.ids.boundary, rest);
const answeredByPartner = { owner: 409, partner: 200, stranger: 404, loner: 404, anonymous: 401 };
const takenBackByOwner = { owner: 200, partner: 409, stranger: 404, loner: 404, anonymous: 401 };
const nobody = { owner: 404, partner: 404, stranger: 404, loner: 404, anonymous: 401 };

describe("authorization matrix: boundaries", () => {
  authorizationMatrix(
    () => t,
    [
      row("post", (w) => boundaryPath(w.pairId), membersOnly(201), { body: () => sampleBoundary }),
      row("get", (w) => boundaryPath(w.pairId), membersOnly(200)),
      row("get", (w) => one(w), membersOnly(200), { setup: proposed }),
      row("post", (w) => one(w, "/accept"), answeredByPartner, { setup: proposed }),
      row("post", (w) => one(w, "/decline"), answeredByPartner, { setup: proposed, body: () => ({ reason: "No" }) }),
      row("post", (w) => one(w, "/cancel"), takenBackByOwner, { setup: proposed }),
      row("post", (w) => one(w, "/revisions"), membersOnly(201), { setup: agreed, body: () => ({ text: "New" }) }),
      row("post", (w) => one(w, "/revisions/2/accept"), answeredByPartner, { setup: revising }),
      row("post", (w) => one(w, "/revisions/2/decline"), answeredByPartner, { setup: revising }),
      row("post", (w) => one(w, "/revisions/2/cancel"), takenBackByOwner, { setup: revising }),
      row("post", (w) => one(w, "/withdraw"), membersOnly(200), { setup: agreed, body: () => ({ reason: "Done" }) }),
      // Another pair's boundary under my pair's path, and a malformed id, look exactly like ids that do not exist.
      row("get", (w) => boundaryPath(w.pairId, w.ids.foreign), nobody, { setup: foreign }),
      row("post", (w) => boundaryPath(w.pairId, w.ids.foreign, "/cancel"), nobody, { setup: foreign }),
      row(
        "get",
        (w) => boundaryPath(w.strangerPairId, w.ids.foreign),
        { ...nobody, stranger: 200 },
        { setup: foreign },
      ),
      row("get", (w) => boundaryPath(w.pairId, "not-a-uuid"), nobody),
      // 404 comes before 400: an outsider learns nothing even from a bad query or body.
      row("get", (w) => `${boundaryPath(w.pairId)}?limit=5000`, membersOnly(400)),
      row("post", (w) => boundaryPath(w.pairId), membersOnly(400), { body: () => ({ title: "" }) }),
    ],
  );
});
