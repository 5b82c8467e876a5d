import { type ErrorCode, errorCatalogue } from "./catalogue.js";

export type FieldError = { path: string; message: string };

/** The one error type services throw; the problem plugin turns it into RFC 9457. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(
    code: ErrorCode,
    detail?: string,
    extra: { errors?: FieldError[]; headers?: Record<string, string> } = {},
  ) {
    super(detail ?? errorCatalogue[code].title);
    this.name = "AppError";
    this.code = code;
    this.status = errorCatalogue[code].status;
    this.errors = extra.errors;
    this.headers = extra.headers;
  }
}

export const notFound = (what = "resource") => new AppError("NOT_FOUND", `No such ${what}`);
