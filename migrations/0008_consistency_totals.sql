CREATE TABLE "commitment_figure_totals" (
	"pair_id" uuid NOT NULL,
	"owner_id" uuid NOT NULL,
	"scope" text NOT NULL,
	"kept" integer DEFAULT 0 NOT NULL,
	"missed" integer DEFAULT 0 NOT NULL,
	"lapsed" integer DEFAULT 0 NOT NULL,
	"withdrawn" integer DEFAULT 0 NOT NULL,
	"disputed" integer DEFAULT 0 NOT NULL,
	"awaiting_confirmation" integer DEFAULT 0 NOT NULL,
	"open" integer DEFAULT 0 NOT NULL,
	"reported_in_time" integer DEFAULT 0 NOT NULL,
	"acknowledged_misses" integer DEFAULT 0 NOT NULL,
	"acknowledgements_accepted" integer DEFAULT 0 NOT NULL,
	"current_streak" integer DEFAULT 0 NOT NULL,
	"longest_streak" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "commitment_figure_totals_pair_id_owner_id_scope_pk" PRIMARY KEY("pair_id","owner_id","scope")
);
--> statement-breakpoint
CREATE TABLE "commitment_streak_breaks" (
	"pair_id" uuid NOT NULL,
	"owner_id" uuid NOT NULL,
	"scope" text NOT NULL,
	"due_at" timestamp with time zone NOT NULL,
	"commitment_id" uuid NOT NULL,
	"run_before" integer NOT NULL,
	CONSTRAINT "commitment_streak_breaks_pair_id_owner_id_scope_due_at_commitment_id_pk" PRIMARY KEY("pair_id","owner_id","scope","due_at","commitment_id")
);
--> statement-breakpoint
CREATE INDEX "commitment_streak_breaks_run_idx" ON "commitment_streak_breaks" USING btree ("pair_id","owner_id","scope","run_before");--> statement-breakpoint
CREATE INDEX "commitments_kept_idx" ON "commitments" USING btree ("pair_id","owner_id","due_at","id") WHERE commitment_figure_class(status, outcome, lapsed_at) = 'kept';--> statement-breakpoint
CREATE INDEX "commitments_kept_category_idx" ON "commitments" USING btree ("pair_id","owner_id","category","due_at","id") WHERE commitment_figure_class(status, outcome, lapsed_at) = 'kept';