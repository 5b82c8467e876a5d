import { BoundedMap } from "../../bounded-map.js";
import type { Clock } from "../../clock.js";

const ENDED_LOGINS_REMEMBERED = 100_000;

/**
 * Logins (refresh families) known to have ended: a revoked login never
 * comes back, so its still-signed access tokens are refused without asking
 * the database again. Each is remembered until every access token it could
 * have issued has expired (the token lifetime from now); after that the
 * signature check refuses them by itself. Bounded: the oldest go first,
 * and a forgotten one costs one query again.
 */
export function createEndedLogins(clock: Clock, accessTokenTtlSeconds: number) {
  const until = new BoundedMap<string, number>(ENDED_LOGINS_REMEMBERED);
  return {
    remember(familyIds: Iterable<string>): void {
      const expiry = clock.now().getTime() + accessTokenTtlSeconds * 1000;
      for (const id of familyIds) {
        // Re-inserted, so it counts as the newest when the map is full.
        until.delete(id);
        until.set(id, expiry);
      }
    },
    has(familyId: string): boolean {
      const expiry = until.get(familyId);
      if (expiry === undefined) return false;
      if (clock.now().getTime() < expiry) return true;
      until.delete(familyId);
      return false;
    },
    get size(): number {
      return until.size;
    },
  };
}
