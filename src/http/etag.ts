import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { AppError } from "../errors/app-error.js";

/** Strong ETag of a versioned resource: its version number. */
export const etagOf = (version: number) => `"${version}"`;

function tags(header: string): string[] {
  return header
    .split(",")
    .map((tag) => tag.trim().replace(/^W\//, ""))
    .filter(Boolean);
}

/**
 * The version an `If-Match` header demands, or undefined without one. The
 * service compares it with the row it has locked, so the check and the
 * write cannot be separated by another writer.
 */
export function expectedVersion(request: FastifyRequest): number | undefined {
  const header = request.headers["if-match"];
  if (header === undefined || header.trim() === "*") return undefined;
  for (const tag of tags(header)) {
    const match = /^"(\d{1,9})"$/.exec(tag);
    if (match) return Number(match[1]);
  }
  // A tag that can never match this resource.
  throw new AppError("PRECONDITION_FAILED", "If-Match names no version of this resource");
}

export function assertVersion(expected: number | undefined, actual: number): void {
  if (expected !== undefined && expected !== actual) {
    throw new AppError("PRECONDITION_FAILED", `The resource is at version ${actual}, not ${expected}`);
  }
}

/** Sets the ETag; answers true (after sending 304) when `If-None-Match` already has it. */
export function notModified(request: FastifyRequest, reply: FastifyReply, version: number): boolean {
  return answerIfNotModified(request, reply, etagOf(version));
}

/** `notModified` for any strong ETag (`"…"`), not only a version number. */
export function answerIfNotModified(request: FastifyRequest, reply: FastifyReply, etag: string): boolean {
  reply.header("etag", etag);
  const header = request.headers["if-none-match"];
  if (header && (header.trim() === "*" || tags(header).includes(etag))) {
    reply.code(304).send();
    return true;
  }
  return false;
}

export const conditionalHeaders = z.looseObject({
  "if-match": z.string().max(256).optional().describe("Make the write conditional on this ETag (412 if it changed)"),
});
