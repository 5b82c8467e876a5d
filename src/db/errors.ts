/**
 * Recognises PostgreSQL and driver failures that mean "the database is not
 * reachable right now" (→ 503 with Retry-After) and unique violations
 * (→ 409), so no internal message ever reaches a client.
 */

/** The statement failed, not the database: a retry succeeds. */
const transientSqlStates = new Set([
  "57014", // query_canceled: statement_timeout
  "40001", // serialization_failure: transient, a retry succeeds
  "40P01", // deadlock_detected: transient, a retry succeeds
]);

/** The database could not be reached, or dropped the connection. */
const connectionSqlStates = new Set([
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
  "08000",
  "08001",
  "08003",
  "08004",
  "08006",
]);

const unavailableNodeCodes = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTFOUND", "EPIPE", "EAI_AGAIN"]);

/** A statement or the wait for a pooled connection took too long: the database may be busy, not gone. */
const slowMessages = ["timeout exceeded when trying to connect", "Query read timeout"];

const connectionMessages = [
  "Connection terminated",
  "Client has encountered a connection error",
  "connect ECONNREFUSED",
];

function codeOf(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}

/** Drizzle wraps driver errors; the PostgreSQL error is its `cause`. */
function* causes(error: unknown): Generator<unknown> {
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    yield current;
    current = (current as { cause?: unknown }).cause;
  }
}

/** The database could not be reached or lost the connection (an outage, logged once: see availability.ts). */
export function isConnectionFailure(error: unknown): boolean {
  for (const e of causes(error)) {
    const code = codeOf(e);
    if (code && (connectionSqlStates.has(code) || unavailableNodeCodes.has(code))) return true;
    const message = e instanceof Error ? e.message : "";
    if (connectionMessages.some((m) => message.includes(m))) return true;
  }
  return false;
}

export function isDatabaseUnavailable(error: unknown): boolean {
  if (isConnectionFailure(error)) return true;
  for (const e of causes(error)) {
    const code = codeOf(e);
    if (code && transientSqlStates.has(code)) return true;
    const message = e instanceof Error ? e.message : "";
    if (slowMessages.some((m) => message.includes(m))) return true;
  }
  return false;
}

export function uniqueViolation(error: unknown): { constraint: string | undefined } | undefined {
  for (const e of causes(error)) {
    if (codeOf(e) === "23505") return { constraint: (e as { constraint?: string }).constraint };
  }
  return undefined;
}
