import type { FastifySchemaCompiler } from "fastify";
import { validatorCompiler } from "fastify-type-provider-zod";
import type { z } from "zod";

const MAX_DEPTH = 64;

/**
 * The path of the first string (value or key) holding a NUL character, or
 * undefined. PostgreSQL refuses U+0000 in text and jsonb, so such input must
 * be refused here (400), not fail in the database (500).
 */
export function pathOfNul(value: unknown, path: string[] = [], depth = 0): string[] | undefined {
  if (typeof value === "string") return value.includes("\u0000") ? path : undefined;
  if (typeof value !== "object" || value === null || depth > MAX_DEPTH) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = pathOfNul(value[i], [...path, String(i)], depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  for (const [key, item] of Object.entries(value)) {
    if (key.includes("\u0000")) return [...path, key];
    const found = pathOfNul(item, [...path, key], depth + 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * The zod validator, refusing NUL characters in any part of the request
 * first. Deeper nesting than any schema accepts is left to the schema,
 * which refuses it anyway.
 */
export const validatorCompilerWithoutNul: FastifySchemaCompiler<z.ZodType> = (route) => {
  const validate = validatorCompiler(route);
  return (data) => {
    const path = pathOfNul(data);
    if (path) {
      return {
        error: [
          {
            keyword: "nul",
            instancePath: `/${path.join("/")}`,
            schemaPath: "#",
            params: {},
            message: "must not contain NUL (U+0000) characters",
          },
        ],
      };
    }
    return validate(data);
  };
};
