import type { Logger } from "pino";

export type FailureSource = "requests" | "readinessChecks" | "connections";

/**
 * Whether the database answers, logged once per change instead of once
 * per failure: an outage under load would otherwise write a line (and a
 * stack) for every request and probe. The first failure logs the outage;
 * the first answer afterwards logs its end with what failed meanwhile.
 */
export type DatabaseAvailability = {
  /** Something could not reach the database (a connection failed or broke). */
  failed(source: FailureSource, error: unknown): void;
  /** The database answered (a new connection, a readiness check). */
  answered(): void;
};

/** The driver's own error, without the query text and parameters a wrapping error carries. */
function rootCause(error: unknown): { code?: string; message: string } {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && (current as { cause?: unknown })?.cause; depth++) {
    current = (current as { cause: unknown }).cause;
  }
  const code = (current as { code?: unknown })?.code;
  return {
    ...(typeof code === "string" ? { code } : {}),
    message: current instanceof Error ? current.message : String(current),
  };
}

export function trackAvailability(logger: Logger): DatabaseAvailability {
  let outage: Record<FailureSource, number> | undefined;
  return {
    failed(source, error) {
      if (!outage) {
        outage = { requests: 0, readinessChecks: 0, connections: 0 };
        logger.error({ source, cause: rootCause(error) }, "database unavailable");
      }
      outage[source]++;
    },
    answered() {
      if (!outage) return;
      logger.warn({ failed: outage }, "database available again");
      outage = undefined;
    },
  };
}
