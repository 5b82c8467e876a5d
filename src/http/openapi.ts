import type { ErrorCode } from "../errors/catalogue.js";
import { errorCatalogue } from "../errors/catalogue.js";
import { problemSchema } from "./problem.js";

/**
 * Response entries for the problems a route can answer, so the OpenAPI
 * document lists them. Handlers never build these bodies: the problem
 * handler does.
 */
export function problems(...codes: ErrorCode[]) {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = errorCatalogue[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [status, problemSchema.describe(`Problem: ${list.join(", ")}`)]),
  );
}

/** Problems every authenticated route can answer besides its own. */
export const authenticatedProblems: ErrorCode[] = [
  "VALIDATION_FAILED",
  "UNAUTHENTICATED",
  "RATE_LIMITED",
  "DATABASE_UNAVAILABLE",
];
export const writeProblems: ErrorCode[] = [
  ...authenticatedProblems,
  "IDEMPOTENCY_KEY_IN_FLIGHT",
  "IDEMPOTENCY_KEY_REUSED",
  "PAYLOAD_TOO_LARGE",
  "UNSUPPORTED_MEDIA_TYPE",
];

export const bearerSecurity = [{ bearerAuth: [] }];

/** Routes where the password is re-entered (change it, delete the account). */
export const passwordReentryProblems: ErrorCode[] = [
  ...authenticatedProblems,
  "MALFORMED_JSON",
  "PAYLOAD_TOO_LARGE",
  "UNSUPPORTED_MEDIA_TYPE",
  "WRONG_PASSWORD",
  "ACCOUNT_THROTTLED",
  "SERVER_BUSY",
];
