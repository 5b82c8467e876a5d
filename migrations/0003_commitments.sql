CREATE TABLE "commitment_requests" (
	"id" uuid PRIMARY KEY NOT NULL,
	"pair_id" uuid NOT NULL,
	"requester_id" uuid NOT NULL,
	"owner_id" uuid NOT NULL,
	"title" text NOT NULL,
	"details" text,
	"category" text NOT NULL,
	"due_at" timestamp with time zone NOT NULL,
	"grace_minutes" integer NOT NULL,
	"status" text NOT NULL,
	"commitment_id" uuid,
	"reason" text,
	"answered_at" timestamp with time zone,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "commitments" (
	"id" uuid PRIMARY KEY NOT NULL,
	"pair_id" uuid NOT NULL,
	"owner_id" uuid NOT NULL,
	"title" text NOT NULL,
	"details" text,
	"category" text NOT NULL,
	"due_at" timestamp with time zone NOT NULL,
	"grace_minutes" integer NOT NULL,
	"lapses_at" timestamp with time zone NOT NULL,
	"series_id" uuid,
	"request_id" uuid,
	"status" text NOT NULL,
	"outcome" text,
	"report_note" text,
	"reported_at" timestamp with time zone,
	"report_timing" text,
	"confirmation_state" text,
	"confirmation_auto" boolean,
	"confirmation_note" text,
	"confirmation_at" timestamp with time zone,
	"confirmation_due_at" timestamp with time zone,
	"lapsed_at" timestamp with time zone,
	"withdrawn_at" timestamp with time zone,
	"withdraw_reason" text,
	"withdraw_cause" text,
	"reschedule_due_at" timestamp with time zone,
	"reschedule_reason" text,
	"reschedule_proposed_at" timestamp with time zone,
	"acknowledgement_text" text,
	"acknowledged_at" timestamp with time zone,
	"acknowledgement_accepted_at" timestamp with time zone,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "series" (
	"id" uuid PRIMARY KEY NOT NULL,
	"pair_id" uuid NOT NULL,
	"owner_id" uuid NOT NULL,
	"rrule" text NOT NULL,
	"time_zone" text NOT NULL,
	"dtstart" timestamp with time zone NOT NULL,
	"status" text NOT NULL,
	"title" text NOT NULL,
	"details" text,
	"category" text NOT NULL,
	"grace_minutes" integer NOT NULL,
	"generated_until" timestamp with time zone NOT NULL,
	"exhausted" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"ended_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "commitment_requests" ADD CONSTRAINT "commitment_requests_pair_id_pairs_id_fk" FOREIGN KEY ("pair_id") REFERENCES "public"."pairs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "commitment_requests" ADD CONSTRAINT "commitment_requests_requester_id_users_id_fk" FOREIGN KEY ("requester_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "commitment_requests" ADD CONSTRAINT "commitment_requests_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "commitments" ADD CONSTRAINT "commitments_pair_id_pairs_id_fk" FOREIGN KEY ("pair_id") REFERENCES "public"."pairs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "commitments" ADD CONSTRAINT "commitments_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "commitments" ADD CONSTRAINT "commitments_series_id_series_id_fk" FOREIGN KEY ("series_id") REFERENCES "public"."series"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "series" ADD CONSTRAINT "series_pair_id_pairs_id_fk" FOREIGN KEY ("pair_id") REFERENCES "public"."pairs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "series" ADD CONSTRAINT "series_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "commitment_requests_pair_idx" ON "commitment_requests" USING btree ("pair_id","created_at","id");--> statement-breakpoint
CREATE INDEX "commitment_requests_to_expire_idx" ON "commitment_requests" USING btree ("due_at") WHERE "commitment_requests"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "commitments_pair_due_idx" ON "commitments" USING btree ("pair_id","due_at","id");--> statement-breakpoint
CREATE INDEX "commitments_series_idx" ON "commitments" USING btree ("series_id");--> statement-breakpoint
CREATE INDEX "commitments_to_lapse_idx" ON "commitments" USING btree ("lapses_at") WHERE "commitments"."status" = 'open';--> statement-breakpoint
CREATE INDEX "commitments_to_autoconfirm_idx" ON "commitments" USING btree ("confirmation_due_at") WHERE "commitments"."status" = 'reported';--> statement-breakpoint
CREATE INDEX "commitments_reschedule_idx" ON "commitments" USING btree ("due_at") WHERE "commitments"."reschedule_due_at" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "series_pair_idx" ON "series" USING btree ("pair_id");--> statement-breakpoint
CREATE INDEX "series_to_extend_idx" ON "series" USING btree ("generated_until") WHERE "series"."status" = 'active' AND NOT "series"."exhausted";