import type { IncomingMessage } from "node:http";
import { type FastifyReply, type FastifyRequest, LogController } from "fastify";
import pino, { type DestinationStream, type Logger, type LoggerOptions } from "pino";

/** Query parameters that carry secrets (stream tickets) are masked in logged URLs. */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:ticket|token|access_token)=)[^&]*/gi, "$1[redacted]");
}

/** Fields of any error that carry SQL text or values (drizzle's query and params, PostgreSQL's detail, …). */
const WORDY_FIELDS = new Set(["query", "params", "detail", "where", "hint", "internalQuery"]);

/** A PostgreSQL error as `pg` raises it: a SQLSTATE and a severity. */
const isDatabaseError = (error: object): error is Error & { code: string } =>
  typeof (error as { severity?: unknown }).severity === "string" &&
  typeof (error as { code?: unknown }).code === "string" &&
  /^[0-9A-Z]{5}$/.test((error as { code: string }).code);

/**
 * What a log may say of an error. Drizzle's message is "Failed query: <sql>
 * params: <values>", and PostgreSQL quotes values in its messages (`invalid
 * input syntax for type uuid: "…"`) and details (`Key (email)=(…)`,
 * `Failing row contains (…)`): people's titles, notes and addresses. So a
 * query error keeps only "Failed query", a database error keeps its SQLSTATE,
 * names (constraint, table, column) and its message with every quoted part
 * blanked, and no error keeps the wordy fields. Stacks keep their frames,
 * not the message they start with. Causes are serialized the same way.
 */
export function serializeError(error: unknown, depth = 0): unknown {
  if (typeof error !== "object" || error === null || depth > 5) return error;
  const type = error.constructor?.name ?? "Error";
  let message = error instanceof Error ? error.message : undefined;
  if (message?.startsWith("Failed query:")) message = "Failed query";
  else if (message !== undefined && isDatabaseError(error)) message = message.replace(/"[^"]*"/g, '"…"');
  const out: Record<string, unknown> = { type, message };
  const stack = (error as { stack?: unknown }).stack;
  if (typeof stack === "string") {
    const frames = stack.split("\n").filter((line) => line.startsWith("    at "));
    out.stack = [`${type}: ${message}`, ...frames].join("\n");
  }
  for (const [key, value] of Object.entries(error)) {
    if (key === "cause" || key === "message" || key === "stack" || WORDY_FIELDS.has(key)) continue;
    out[key] = value instanceof Error ? serializeError(value, depth + 1) : value;
  }
  const cause = (error as { cause?: unknown }).cause;
  if (cause !== undefined) out.cause = serializeError(cause, depth + 1);
  return out;
}

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: {
      paths: [
        "req.headers.authorization",
        "req.headers.cookie",
        'req.headers["idempotency-key"]',
        "*.password",
        "*.currentPassword",
        "*.newPassword",
        "*.accessToken",
        "*.refreshToken",
        "*.ticket",
      ],
      censor: "[redacted]",
    },
    serializers: {
      err: serializeError,
      req(request: IncomingMessage & { id?: string; ip?: string }) {
        return { method: request.method, url: redactUrl(request.url ?? ""), remoteAddress: request.ip };
      },
    },
  };
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return destination ? pino(loggerOptions(level), destination) : pino(loggerOptions(level));
}

/**
 * One log line per request, when it completes: method, URL, address,
 * status and time together (Fastify's default writes a second line when
 * the request arrives, doubling the logging cost of every request).
 */
export class OneLinePerRequest extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    const line = { req: request, res: reply, responseTime: reply.elapsedTime };
    if (error) reply.log.error({ ...line, err: error }, "request errored");
    else reply.log.info(line, "request completed");
  }
}
