/**
 * Every problem `code` Kept answers with: its HTTP status and a title that
 * stays the same for every occurrence. Front ends branch on `code`, never on
 * `detail`. docs/api.md publishes this table.
 */
export const errorCatalogue = {
  VALIDATION_FAILED: { status: 400, title: "The request is not valid" },
  MALFORMED_JSON: { status: 400, title: "The body is not valid JSON" },
  UNAUTHENTICATED: { status: 401, title: "Authentication is required" },
  INVALID_CREDENTIALS: { status: 401, title: "Email or password is wrong" },
  REFRESH_TOKEN_INVALID: { status: 401, title: "The refresh token is not valid" },
  REFRESH_TOKEN_REUSED: {
    status: 401,
    title: "The refresh token was already used; every session of that login was ended",
  },
  STREAM_TICKET_INVALID: { status: 401, title: "The stream ticket is missing, expired, used or not yours" },
  ORIGIN_NOT_ALLOWED: { status: 403, title: "This origin may not open the stream" },
  WRONG_PASSWORD: { status: 403, title: "The password you re-entered is wrong" },
  NOT_FOUND: { status: 404, title: "Not found" },
  INVITE_NOT_FOUND: { status: 404, title: "No invite has this code" },
  ROUTE_NOT_FOUND: { status: 404, title: "No such route" },
  METHOD_NOT_ALLOWED: { status: 405, title: "Method not allowed on this route" },
  PRECONDITION_FAILED: { status: 412, title: "The resource has changed (If-Match failed)" },
  EMAIL_TAKEN: { status: 409, title: "An account with this email already exists" },
  CONFLICT: { status: 409, title: "The change conflicts with existing data" },
  ALREADY_IN_PAIR: { status: 409, title: "You are already in an active pair" },
  INVITE_EXPIRED: { status: 409, title: "This invite has expired; ask for a new one" },
  INVITE_USED: { status: 409, title: "This invite has already been used" },
  INVITE_REVOKED: { status: 409, title: "This invite was withdrawn" },
  OWN_INVITE: { status: 409, title: "You cannot join your own invite" },
  NO_ACTIVE_PAIR: { status: 409, title: "You are not in an active pair" },
  PAIR_ENDED: { status: 409, title: "This pair has ended; its history is read-only" },
  OWNER_ONLY: { status: 409, title: "Only the commitment's owner can do this" },
  PARTNER_ONLY: { status: 409, title: "Only the partner can do this" },
  COMMITMENT_NOT_OPEN: { status: 409, title: "Only an open commitment can be changed this way" },
  NOT_REPORTABLE: { status: 409, title: "Only an open, lapsed or disputed commitment can be reported" },
  NOTHING_TO_CONFIRM: { status: 409, title: "There is no report awaiting your answer" },
  NOTHING_TO_DISPUTE: { status: 409, title: "Only a report awaiting confirmation can be disputed" },
  PAST_DUE: { status: 409, title: "It is already due: it can no longer be withdrawn or rescheduled" },
  RESCHEDULE_PENDING: { status: 409, title: "A new time is already proposed; it must be answered or cancelled first" },
  NO_PENDING_RESCHEDULE: { status: 409, title: "No new time is proposed" },
  RESCHEDULE_EXPIRED: { status: 409, title: "The proposal expired when the original time came" },
  NOTHING_TO_ACKNOWLEDGE: { status: 409, title: "Only a missed or lapsed commitment can be acknowledged" },
  ALREADY_ACKNOWLEDGED: { status: 409, title: "This miss has already been acknowledged" },
  NO_ACKNOWLEDGEMENT: { status: 409, title: "There is no acknowledgement to accept" },
  ACKNOWLEDGEMENT_ALREADY_ACCEPTED: { status: 409, title: "This acknowledgement was already accepted" },
  REQUEST_NOT_PENDING: { status: 409, title: "This request has already been answered, cancelled or expired" },
  REQUESTER_ONLY: { status: 409, title: "Only the person who asked can cancel a request" },
  REQUEST_EXPIRED: { status: 409, title: "The request's time has passed" },
  SERIES_ENDED: { status: 409, title: "This series has already ended" },
  BOUNDARY_NOT_PROPOSED: { status: 409, title: "This boundary is no longer a pending proposal" },
  BOUNDARY_NOT_AGREED: { status: 409, title: "This boundary is not in force (not agreed, or withdrawn or ended)" },
  OWN_PROPOSAL: { status: 409, title: "You cannot answer your own proposal; your partner does" },
  NOT_PROPOSER: { status: 409, title: "Only the person who proposed it can cancel it" },
  REVISION_PENDING: { status: 409, title: "A revision of this boundary is already pending" },
  REVISION_NOT_PENDING: { status: 409, title: "No revision with this number is pending" },
  REVISION_CHANGES_NOTHING: { status: 409, title: "The revision changes nothing in the version in force" },
  TIME_BOX_OVER: { status: 409, title: "This boundary's time box is over (endsAt has passed)" },
  IDEMPOTENCY_KEY_IN_FLIGHT: {
    status: 409,
    title: "A request with this Idempotency-Key is still running",
  },
  PAYLOAD_TOO_LARGE: { status: 413, title: "The body is too large" },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: "Unsupported content type" },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    title: "This Idempotency-Key was used with a different request",
  },
  UPGRADE_REQUIRED: { status: 426, title: "This route speaks WebSocket only" },
  RATE_LIMITED: { status: 429, title: "Too many requests" },
  STREAM_LIMIT: { status: 429, title: "Too many open streams for this account" },
  ACCOUNT_THROTTLED: { status: 429, title: "Too many failed sign-ins for this account" },
  INTERNAL: { status: 500, title: "Something went wrong on our side" },
  DATABASE_UNAVAILABLE: { status: 503, title: "The database is unavailable; try again shortly" },
  SERVER_BUSY: { status: 503, title: "The server is busy; try again shortly" },
  NOT_READY: { status: 503, title: "The service is not ready" },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof errorCatalogue;

/** Problem `type` URIs: stable identifiers, documented in docs/api.md. */
export function problemType(code: ErrorCode): string {
  return `urn:kept:problem:${code.toLowerCase().replaceAll("_", "-")}`;
}
