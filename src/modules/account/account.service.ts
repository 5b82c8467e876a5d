import { PassThrough, type Readable } from "node:stream";
import type { Clock } from "../../clock.js";
import type { Db, Executor, Tx } from "../../db/client.js";
import { inTransaction } from "../../db/transaction.js";
import { forgetIdempotentAnswers } from "../../http/idempotency.js";
import type { Principal } from "../../http/principal.js";
import type { AuthService } from "../auth/index.js";
import type { HistoryService } from "../history/index.js";
import type { PairsService } from "../pairs/index.js";

/** One list in each pair of an export (commitments, boundaries…), as `viewerId` sees it, read a batch at a time. */
export type ExportPart = {
  name: string;
  batches: (executor: Executor, pairId: string, viewerId: string) => AsyncIterable<unknown[]>;
};

/** A module's part of deleting an account: erase the words only this person wrote, in `pairIds`. */
export type WordsEraser = (tx: Tx, userId: string, pairIds: string[], now: Date) => Promise<void>;

export type AccountServiceDeps = {
  db: Db;
  clock: Clock;
  auth: Pick<AuthService, "confirmPassword" | "profile" | "lockAccount" | "erase">;
  pairs: Pick<PairsService, "activePairOf" | "allPairsOf" | "leave" | "revokeInvite">;
  history: Pick<HistoryService, "checkpoint" | "eventBatches">;
  /** Lists exported per pair, in this order; the events come last. */
  exportParts: ExportPart[];
  erasers: WordsEraser[];
  /** Published verification keys, so an export's checkpoints can be checked offline. */
  publicKeys: unknown;
};

export const EXPORT_FORMAT = "kept-export";
export const EXPORT_FORMAT_VERSION = 1;

/** Writes with backpressure; gives up if the reader went away (the stream was destroyed). */
function writerFor(out: PassThrough): (chunk: string) => Promise<void> {
  return async (chunk) => {
    if (out.destroyed) throw new Error("export abandoned: the client went away");
    if (out.write(chunk)) return;
    await new Promise<void>((resolve, reject) => {
      const settle = (error?: Error) => {
        out.off("drain", onDrain);
        out.off("close", onClose);
        if (error) reject(error);
        else resolve();
      };
      const onDrain = () => settle();
      const onClose = () => settle(new Error("export abandoned: the client went away"));
      out.once("drain", onDrain);
      out.once("close", onClose);
    });
  };
}

const json = (value: unknown) => JSON.stringify(value);

/**
 * Taking one's data along, and leaving. Owns no table: it asks each module
 * for its part, in one transaction.
 */
export function createAccountService(deps: AccountServiceDeps) {
  const { db, clock } = deps;

  /** The document body, written piece by piece inside one read-only snapshot. */
  async function writeDocument(
    tx: Tx,
    userId: string,
    exportedAt: Date,
    write: (chunk: string) => Promise<void>,
    ready: () => void,
  ) {
    const user = await deps.auth.profile(userId, tx);
    const pairs = await deps.pairs.allPairsOf(userId, tx);
    // Nothing is sent before this point, so a failure so far is still an ordinary problem response.
    ready();
    await write(
      `{"format":${json(EXPORT_FORMAT)},"formatVersion":${EXPORT_FORMAT_VERSION},"exportedAt":${json(exportedAt.toISOString())}` +
        `,"user":${json(user)},"publicKeys":${json(deps.publicKeys)},"pairs":[`,
    );
    for (const [index, pair] of pairs.entries()) {
      const checkpoint = await deps.history.checkpoint(pair.id, tx);
      await write(`${index === 0 ? "" : ","}{"pair":${json(pair)},"checkpoint":${json(checkpoint)}`);
      const parts: ExportPart[] = [
        ...deps.exportParts,
        { name: "events", batches: (executor, pairId) => deps.history.eventBatches(executor, pairId) },
      ];
      for (const part of parts) {
        await write(`,${json(part.name)}:[`);
        let first = true;
        for await (const batch of part.batches(tx, pair.id, userId)) {
          if (batch.length === 0) continue;
          await write(`${first ? "" : ","}${batch.map(json).join(",")}`);
          first = false;
        }
        await write("]");
      }
      await write("}");
    }
    await write("]}\n");
  }

  return {
    /**
     * Everything the user can see, as one JSON document, streamed: the
     * profile, then every pair they were in with its commitments, series,
     * requests, boundaries (with versions), the latest checkpoint and every
     * event with its hashes. One repeatable-read snapshot, so the events,
     * the checkpoint and the rows agree with each other. Answers once the
     * first reads succeeded; a failure after that cuts the stream short
     * (the document then does not parse, which a client notices).
     */
    async exportAccount(userId: string): Promise<{ stream: Readable; exportedAt: Date }> {
      const exportedAt = clock.now();
      const out = new PassThrough();
      const write = writerFor(out);
      let started: () => void = () => {};
      const ready = new Promise<void>((resolve) => {
        started = resolve;
      });
      const done = inTransaction(db, (tx) => writeDocument(tx, userId, exportedAt, write, started), {
        isolationLevel: "repeatable read",
        accessMode: "read only",
      });
      await Promise.race([ready, done]);
      done.then(
        () => out.end(),
        (error: unknown) => out.destroy(error instanceof Error ? error : new Error(String(error))),
      );
      return { stream: out, exportedAt };
    },

    /**
     * Deletes the caller's account (the design's deletion rule), in one
     * transaction: the active pair is left first (reason `account_deleted`,
     * with every module's leaving rule), a pending invite is revoked, each
     * module erases the words only this person wrote, their stored
     * idempotent answers are dropped, and the person is blanked with every
     * login ended. Answers the pair that ended, for effects after commit.
     */
    async deleteAccount(
      principal: Principal,
      password: string,
      address: string,
    ): Promise<{ endedPairId: string | null }> {
      await deps.auth.confirmPassword(principal, password, address);
      return inTransaction(db, async (tx) => {
        const now = clock.now();
        await deps.auth.lockAccount(tx, principal.id);
        const active = await deps.pairs.activePairOf(principal.id, tx);
        if (active) await deps.pairs.leave(tx, principal.id, active, "account_deleted");
        await deps.pairs.revokeInvite(tx, principal);
        const pairIds = (await deps.pairs.allPairsOf(principal.id, tx)).map((pair) => pair.id);
        for (const erase of deps.erasers) await erase(tx, principal.id, pairIds, now);
        await forgetIdempotentAnswers(tx, principal.id);
        await deps.auth.erase(tx, principal.id);
        return { endedPairId: active };
      });
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
