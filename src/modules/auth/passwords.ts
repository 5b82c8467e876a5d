import { hash, verify } from "@node-rs/argon2";
import { AppError } from "../../errors/app-error.js";

/** OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane. */
const argon2idOptions = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export type PasswordHasher = {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
};

export const argon2idHasher: PasswordHasher = {
  hash: (password) => hash(password, argon2idOptions),
  verify: (hashed, password) => verify(hashed, password),
};

export type HashingLimits = { concurrency: number; queue: number };

/**
 * Each hash holds 19 MiB for a few tens of milliseconds, so a burst of
 * logins must not run them all at once: at most `concurrency` run, `queue`
 * wait, and the rest are turned away with 503 and `Retry-After`.
 */
export function boundedHasher(inner: PasswordHasher, limits: HashingLimits): PasswordHasher {
  let running = 0;
  const waiting: (() => void)[] = [];

  async function withSlot<T>(work: () => Promise<T>): Promise<T> {
    if (running >= limits.concurrency) {
      if (waiting.length >= limits.queue) {
        throw new AppError("SERVER_BUSY", "Too many sign-ins at once; try again in a moment", {
          headers: { "retry-after": "1" },
        });
      }
      await new Promise<void>((resolve) => waiting.push(resolve));
    } else {
      running++;
    }
    try {
      return await work();
    } finally {
      // Hand the slot straight to the next waiter, or free it.
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  }

  return {
    hash: (password) => withSlot(() => inner.hash(password)),
    verify: (hashed, password) => withSlot(() => inner.verify(hashed, password)),
  };
}
