import type { IncomingMessage } from "node:http";
import { type FastifyReply, type FastifyRequest, LogController } from "fastify";
import pino, { type DestinationStream, type Logger, type LoggerOptions } from "pino";

/** Query parameters that carry secrets (stream tickets) are masked in logged URLs. */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:ticket|token|access_token)=)[^&]*/gi, "$1[redacted]");
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
