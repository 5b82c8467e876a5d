import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import { z } from "zod";
import type { DatabaseAvailability } from "../db/availability.js";
import { isConnectionFailure, isDatabaseUnavailable, uniqueViolation } from "../db/errors.js";
import { AppError, type FieldError } from "../errors/app-error.js";
import { type ErrorCode, errorCatalogue, problemType } from "../errors/catalogue.js";

export const RETRY_AFTER_UNAVAILABLE_SECONDS = 5;

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string(),
    instance: z.string().optional(),
    requestId: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: "Problem", description: "RFC 9457 problem details, with Kept's stable `code`." });

export type Problem = z.infer<typeof problemSchema>;

/** Fastify's own error codes, mapped onto the catalogue. */
const fastifyCodes: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: "MALFORMED_JSON",
  FST_ERR_CTP_EMPTY_JSON_BODY: "MALFORMED_JSON",
  FST_ERR_CTP_BODY_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "UNSUPPORTED_MEDIA_TYPE",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "VALIDATION_FAILED",
  FST_ERR_VALIDATION: "VALIDATION_FAILED",
};

function validationErrors(error: FastifyError): FieldError[] {
  const context = (error as FastifyError & { validationContext?: string }).validationContext ?? "body";
  return (error.validation ?? []).map((issue) => ({
    path: [context, ...issue.instancePath.split("/").filter(Boolean)].join("."),
    message: issue.message ?? "is not valid",
  }));
}

export function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  code: ErrorCode,
  detail?: string,
  errors?: FieldError[],
): FastifyReply {
  const { status, title } = errorCatalogue[code];
  const body: Problem = {
    type: problemType(code),
    title,
    status,
    detail: detail ?? title,
    code,
    instance: request.url.split("?")[0],
    requestId: request.id,
    ...(errors && errors.length > 0 ? { errors } : {}),
  };
  // RFC 9110: a 401 names the scheme to use; a sharper challenge (invalid_token) may already be set.
  if (status === 401 && !reply.hasHeader("www-authenticate")) reply.header("www-authenticate", "Bearer");
  // Problems bypass the route's response serializer: their shape is fixed here.
  return reply.code(status).type("application/problem+json").serializer(JSON.stringify).send(body);
}

/** Turns every error into problem+json; a 5xx never shows its message. */
export function registerProblemHandler(app: FastifyInstance, availability?: DatabaseAvailability): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof AppError) {
      if (error.headers) reply.headers(error.headers);
      if (error.status >= 500) request.log.error({ err: error }, error.message);
      return sendProblem(request, reply, error.code, error.message, error.errors);
    }
    if (hasZodFastifySchemaValidationErrors(error) || error.validation) {
      return sendProblem(request, reply, "VALIDATION_FAILED", "Some fields are not valid", validationErrors(error));
    }
    const mapped = error.code ? fastifyCodes[error.code] : undefined;
    if (mapped) {
      const detail = mapped === "MALFORMED_JSON" ? error.message : undefined;
      return sendProblem(request, reply, mapped, detail);
    }
    if (isDatabaseUnavailable(error)) {
      // An outage is logged once, by `availability`, not once per request.
      if (availability && isConnectionFailure(error)) availability.failed("requests", error);
      else request.log.warn({ err: error }, "database unavailable");
      reply.header("retry-after", String(RETRY_AFTER_UNAVAILABLE_SECONDS));
      return sendProblem(request, reply, "DATABASE_UNAVAILABLE");
    }
    if (uniqueViolation(error)) {
      request.log.info({ err: error }, "unique violation");
      return sendProblem(request, reply, "CONFLICT");
    }
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      // Remaining client errors raised by Fastify itself (e.g. a bad header).
      return sendProblem(request, reply, "VALIDATION_FAILED", error.message);
    }
    request.log.error({ err: error }, "unexpected error");
    return sendProblem(request, reply, "INTERNAL");
  });
}
