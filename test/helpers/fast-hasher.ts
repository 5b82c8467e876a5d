import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { PasswordHasher } from "../../src/modules/auth/index.js";

/**
 * A salted sha256 in place of argon2id, for test files about something
 * else that register many users (argon2id's 19 MiB per hash dominates
 * their run time). Never for production: it is fast on purpose.
 */
export const fastHasher: PasswordHasher = {
  async hash(password) {
    const salt = randomBytes(16).toString("hex");
    return `test-sha256$${salt}$${createHash("sha256")
      .update(salt + password)
      .digest("hex")}`;
  },
  async verify(hashed, password) {
    const [, salt, digest] = hashed.split("$");
    if (!salt || !digest) return false;
    const actual = createHash("sha256")
      .update(salt + password)
      .digest();
    return timingSafeEqual(actual, Buffer.from(digest, "hex"));
  },
};
