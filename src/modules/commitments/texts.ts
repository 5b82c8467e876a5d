import { createHmac, randomBytes } from "node:crypto";
import { and, asc, eq, gt, inArray, isNull, max, sql } from "drizzle-orm";
import { z } from "zod";
import type { Executor, Tx } from "../../db/client.js";
import { commitmentTexts } from "../../db/schema/commitments.js";
import { decodeCursor, type Page, pageOf } from "../../http/pagination.js";
import type { CommitmentText } from "./commitments.schemas.js";

type TextRow = typeof commitmentTexts.$inferSelect;
export type TextField = TextRow["field"];

/** A text as it is stored: the words, the random salt and the HMAC its event carries. */
export type SealedText = { text: string | null; salt: string | null; hash: string | null };

/**
 * `hash` = hex HMAC-SHA256 of the UTF-8 text, keyed by 32 random bytes
 * (`salt`, base64url) drawn for this text alone. The event can carry the
 * hash without the text: nobody can test guesses of a short note against
 * it without the salt, which lives beside the text and is erased with it.
 * No text (details left out, a report without a note): no salt, no hash.
 */
export function sealText(text: string | null): SealedText {
  if (text === null) return { text: null, salt: null, hash: null };
  const key = randomBytes(32);
  return { text, salt: key.toString("base64url"), hash: textHash(key.toString("base64url"), text) };
}

export function textHash(salt: string, text: string): string {
  return createHmac("sha256", Buffer.from(salt, "base64url")).update(text, "utf8").digest("hex");
}

/** One text to append to a commitment's record. */
export type NewText = SealedText & { field: TextField; outcome?: "kept" | "missed" | null };

export function toCommitmentText(row: TextRow): CommitmentText {
  return {
    commitmentId: row.commitmentId,
    n: row.n,
    field: row.field,
    text: row.text,
    salt: row.salt,
    hash: row.hash,
    authorId: row.authorId,
    writtenAt: row.writtenAt.toISOString(),
    reportNumber: row.reportNumber,
    outcome: row.outcome,
    erased: row.erasedAt !== null,
  };
}

/**
 * Appends texts to a commitment's record, numbered after those already
 * there. The caller holds the commitment row's lock, so numbers never race.
 * A report note starts the next report; a dispute note answers the last one.
 */
export async function appendTexts(
  tx: Tx,
  on: { pairId: string; commitmentId: string; authorId: string; at: Date },
  texts: NewText[],
): Promise<void> {
  if (texts.length === 0) return;
  const where = and(eq(commitmentTexts.pairId, on.pairId), eq(commitmentTexts.commitmentId, on.commitmentId));
  const [last] = await tx
    .select({ n: max(commitmentTexts.n), report: max(commitmentTexts.reportNumber) })
    .from(commitmentTexts)
    .where(where);
  let n = last?.n ?? 0;
  let report = last?.report ?? 0;
  const rows = texts.map((t) => {
    if (t.field === "reportNote") report += 1;
    n += 1;
    return {
      pairId: on.pairId,
      commitmentId: on.commitmentId,
      n,
      field: t.field,
      text: t.text,
      salt: t.salt,
      hash: t.hash,
      authorId: on.authorId,
      writtenAt: on.at,
      reportNumber: t.field === "reportNote" || t.field === "disputeNote" ? report : null,
      outcome: t.outcome ?? null,
    };
  });
  await tx.insert(commitmentTexts).values(rows);
}

const textCursor = z.tuple([z.number().int().min(0)]);

/** A commitment's texts in the order written, a page at a time (the caller checked the commitment is the pair's). */
export async function textsOf(
  executor: Executor,
  pairId: string,
  commitmentId: string,
  page: { limit: number; cursor?: string | undefined },
): Promise<Page<CommitmentText>> {
  const after = decodeCursor(page.cursor, textCursor);
  const rows = await executor
    .select()
    .from(commitmentTexts)
    .where(
      and(
        eq(commitmentTexts.pairId, pairId),
        eq(commitmentTexts.commitmentId, commitmentId),
        after ? gt(commitmentTexts.n, after[0]) : undefined,
      ),
    )
    .orderBy(asc(commitmentTexts.n))
    .limit(page.limit + 1);
  const result = pageOf(rows, page.limit, (row) => [row.n]);
  return { data: result.data.map(toCommitmentText), nextCursor: result.nextCursor };
}

const EXPORT_BATCH = 500;

/** Every text of a pair's commitments, by (commitment, n), a batch at a time (exports). */
export async function* textBatches(executor: Executor, pairId: string): AsyncGenerator<CommitmentText[]> {
  let after: { commitmentId: string; n: number } | undefined;
  while (true) {
    const rows = await executor
      .select()
      .from(commitmentTexts)
      .where(
        and(
          eq(commitmentTexts.pairId, pairId),
          after
            ? sql`(${commitmentTexts.commitmentId}, ${commitmentTexts.n}) > (${after.commitmentId}::uuid, ${after.n}::int)`
            : undefined,
        ),
      )
      .orderBy(asc(commitmentTexts.commitmentId), asc(commitmentTexts.n))
      .limit(EXPORT_BATCH);
    if (rows.length > 0) yield rows.map(toCommitmentText);
    const last = rows.at(-1);
    if (!last || rows.length < EXPORT_BATCH) return;
    after = { commitmentId: last.commitmentId, n: last.n };
  }
}

/**
 * Deleting an account: the texts this person wrote lose their words and
 * salts; the hashes stay, as in the events.
 */
export async function eraseTextsOf(tx: Tx, userId: string, pairIds: string[], now: Date): Promise<void> {
  await tx
    .update(commitmentTexts)
    .set({ text: null, salt: null, erasedAt: now })
    .where(
      and(
        inArray(commitmentTexts.pairId, pairIds),
        eq(commitmentTexts.authorId, userId),
        isNull(commitmentTexts.erasedAt),
      ),
    );
}
