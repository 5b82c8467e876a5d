import { describe, expect, it } from "vitest";
import { z } from "zod";
import { responseSerializerCompiler } from "../../src/http/serialization.js";

const compile = (schema: z.ZodType) =>
  responseSerializerCompiler({ schema, method: "GET", url: "/x", httpStatus: "200" }) as (data: unknown) => string;

describe("response serialization", () => {
  const schema = z.object({
    id: z.uuid(),
    name: z.string().nullable(),
    tags: z.array(z.string()),
    payload: z.record(z.string(), z.unknown()),
  });

  it("writes only the declared fields, so nothing private leaks", () => {
    const text = compile(schema)({
      id: "0190f0a0-0000-7000-8000-000000000000",
      name: null,
      tags: ["a"],
      payload: { fields: ["title"] },
      passwordHash: "secret",
    });
    expect(JSON.parse(text)).toEqual({
      id: "0190f0a0-0000-7000-8000-000000000000",
      name: null,
      tags: ["a"],
      payload: { fields: ["title"] },
    });
  });

  it("fails (a 500, never a partial answer) when a required field is missing", () => {
    expect(() => compile(schema)({ id: "0190f0a0-0000-7000-8000-000000000000" })).toThrow();
  });
});
