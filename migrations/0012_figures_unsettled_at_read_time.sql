CREATE INDEX "commitments_unsettled_idx" ON "commitments" USING btree ("pair_id") WHERE "commitments"."status" IN ('open', 'reported', 'disputed');--> statement-breakpoint
ALTER TABLE "commitment_figure_totals" DROP COLUMN "disputed";--> statement-breakpoint
ALTER TABLE "commitment_figure_totals" DROP COLUMN "awaiting_confirmation";--> statement-breakpoint
ALTER TABLE "commitment_figure_totals" DROP COLUMN "open";