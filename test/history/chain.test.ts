import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalEvent, canonicalEventAround } from "../../src/modules/history/index.js";

describe("the canonical event around its seq", () => {
  it("is, with the seq put in, exactly the canonical event the chain hashes", () => {
    fc.assert(
      fc.property(
        fc.record({
          pairId: fc.uuid(),
          seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
          type: fc.string(),
          actorId: fc.option(fc.uuid(), { nil: null }),
          subjectType: fc.string(),
          subjectId: fc.uuid(),
          // Payloads may hold a `seq` of their own: the split must not be fooled by it.
          payload: fc.dictionary(fc.oneof(fc.string(), fc.constant("seq")), fc.jsonValue()),
          occurredAt: fc.date({ noInvalidDate: true }),
        }),
        (event) => {
          const { seq, ...rest } = event;
          const { before, after } = canonicalEventAround(rest);
          expect(`${before}${seq}${after}`).toBe(canonicalEvent(event));
        },
      ),
      { numRuns: 500 },
    );
  });
});
