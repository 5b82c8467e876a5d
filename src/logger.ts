import type { IncomingMessage } from "node:http";
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
