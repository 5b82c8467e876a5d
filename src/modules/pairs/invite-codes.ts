import { createHash, randomInt } from "node:crypto";

/**
 * Crockford's base32: no I, L, O or U, so a code read aloud or copied by
 * hand cannot be mistyped into another valid code. Ten symbols are 50 bits:
 * under the rate limit, guessing one live code would take millennia.
 */
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const LENGTH = 10;

/** A new code, shown as two groups of five: `K7QJ2-M9XWD`. */
export function newInviteCode(): string {
  let code = "";
  for (let i = 0; i < LENGTH; i++) code += ALPHABET[randomInt(ALPHABET.length)];
  return `${code.slice(0, 5)}-${code.slice(5)}`;
}

/** What a person may type: any case, spaces or dashes, and the letters Crockford maps (I, L → 1; O → 0). */
export function normaliseInviteCode(typed: string): string | undefined {
  const code = typed.toUpperCase().replace(/[\s-]/g, "").replace(/[IL]/g, "1").replace(/O/g, "0");
  if (code.length !== LENGTH || [...code].some((c) => !ALPHABET.includes(c))) return undefined;
  return code;
}

export function hashInviteCode(normalised: string): string {
  return createHash("sha256").update(normalised).digest("hex");
}
