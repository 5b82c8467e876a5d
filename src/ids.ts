import { randomBytes } from "node:crypto";

let lastMs = -1;
let counter = 0;

/**
 * UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then a 12-bit
 * counter (method 1 of §6.2, so ids made in the same millisecond by this
 * process keep their order), then randomness. Ids sort by creation time.
 */
export function uuidv7(at: Date): string {
  let ms = at.getTime();
  // Within a second behind the last id (the same millisecond, or a clock
  // that stepped back a little), keep counting from it; when the counter
  // is full, borrow the next millisecond, as §6.2 allows.
  if (ms <= lastMs && ms > lastMs - 1000) {
    ms = lastMs;
    if (counter < 0xfff) counter++;
    else {
      ms++;
      counter = 0;
    }
  } else {
    counter = randomBytes(2).readUInt16BE() & 0x3ff; // room to count up within the millisecond
  }
  lastMs = ms;
  const bytes = randomBytes(16);
  const time = BigInt(ms);
  for (let i = 0; i < 6; i++) bytes[i] = Number((time >> BigInt(8 * (5 - i))) & 0xffn);
  bytes[6] = 0x70 | (counter >> 8);
  bytes[7] = counter & 0xff;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return uuidPattern.test(value);
}
