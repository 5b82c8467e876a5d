/**
 * Recognises PostgreSQL and driver failures that mean "the database is not
 * reachable right now" (→ 503 with Retry-After) and unique violations
 * (→ 409), so no internal message ever reaches a client.
 */
const unavailableSqlStates = new Set([
  "57014", // query_canceled: statement_timeout
  "40001", // serialization_failure: transient, a retry succeeds
  "40P01", // deadlock_detected: transient, a retry succeeds
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

const unavailableMessages = [
  "timeout exceeded when trying to connect",
  "Connection terminated",
  "Query read timeout",
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

export function isDatabaseUnavailable(error: unknown): boolean {
  for (const e of causes(error)) {
    const code = codeOf(e);
    if (code && (unavailableSqlStates.has(code) || unavailableNodeCodes.has(code))) return true;
    const message = e instanceof Error ? e.message : "";
    if (unavailableMessages.some((m) => message.includes(m))) return true;
  }
  return false;
}

export function uniqueViolation(error: unknown): { constraint: string | undefined } | undefined {
  for (const e of causes(error)) {
    if (codeOf(e) === "23505") return { constraint: (e as { constraint?: string }).constraint };
  }
  return undefined;
}
