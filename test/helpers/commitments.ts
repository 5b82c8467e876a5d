import type { TestApp } from "./app.js";
import type { SignedInUser } from "./users.js";

export type CommitmentInput = {
  title?: string;
  details?: string;
  category?: string;
  dueAt: string;
  graceMinutes?: number;
  recurrence?: { rrule: string; timeZone?: string };
};

/** `as` makes a commitment (201); answers its body. */
export async function createCommitment(
  t: Pick<TestApp, "http">,
  pairId: string,
  as: SignedInUser,
  input: CommitmentInput,
): Promise<{ id: string; dueAt: string; status: string; version: number }> {
  const response = await t.http
    .post(`/v1/pairs/${pairId}/commitments`)
    .set(as.auth)
    .send({ title: "Home at 7", ...input })
    .expect(201);
  return response.body;
}

/** POST …/commitments/{id}/{path} as `as`; the caller decides what to expect. */
export function step(
  t: Pick<TestApp, "http">,
  pairId: string,
  as: SignedInUser,
  commitmentId: string,
  path: string,
  body?: object,
) {
  const request = t.http.post(`/v1/pairs/${pairId}/commitments/${commitmentId}/${path}`).set(as.auth);
  return body ? request.send(body) : request;
}

export type MemberFigures = Record<string, number | null> & {
  userId: string;
  byCategory: Record<string, Record<string, number | null>>;
};

/** GET …/consistency as `as` (200); answers the body. */
export async function figures(t: Pick<TestApp, "http">, pairId: string, as: SignedInUser, window?: string) {
  const query = window ? `?window=${window}` : "";
  const response = await t.http.get(`/v1/pairs/${pairId}/consistency${query}`).set(as.auth).expect(200);
  return response.body as {
    window: string;
    from: string | null;
    asOf: string;
    members: MemberFigures[];
    boundaries: { agreed: number; revisions: number; withdrawn: number };
  };
}

/** One member's figures, from `figures(...)`. */
export function memberOf(body: { members: MemberFigures[] }, userId: string): MemberFigures {
  const member = body.members.find((m) => m.userId === userId);
  if (!member) throw new Error(`no figures for ${userId}`);
  return member;
}

/** GET …/consistency/trend as `as` (200); answers the body. */
export async function trend(t: Pick<TestApp, "http">, pairId: string, as: SignedInUser, weeks?: number) {
  const query = weeks === undefined ? "" : `?weeks=${weeks}`;
  const response = await t.http.get(`/v1/pairs/${pairId}/consistency/trend${query}`).set(as.auth).expect(200);
  return response.body as {
    bucket: string;
    weeks: number;
    members: {
      userId: string;
      points: { weekStart: string; kept: number; missed: number; lapsed: number; keptRate: number | null }[];
    }[];
  };
}
