CREATE TABLE "boundaries" (
	"pair_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"status" text NOT NULL,
	"version" integer NOT NULL,
	"row_version" integer NOT NULL,
	"title" text NOT NULL,
	"text" text NOT NULL,
	"category" text NOT NULL,
	"starts_at" timestamp with time zone,
	"ends_at" timestamp with time zone,
	"review_at" timestamp with time zone,
	"proposed_by" uuid NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"closed_at" timestamp with time zone,
	"closed_by" uuid,
	"close_cause" text,
	"close_reason" text,
	"review_notified_for" timestamp with time zone,
	CONSTRAINT "boundaries_pair_id_id_pk" PRIMARY KEY("pair_id","id")
);
--> statement-breakpoint
CREATE TABLE "boundary_versions" (
	"pair_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"boundary_id" uuid NOT NULL,
	"version" integer NOT NULL,
	"status" text NOT NULL,
	"title" text NOT NULL,
	"text" text NOT NULL,
	"category" text NOT NULL,
	"starts_at" timestamp with time zone,
	"ends_at" timestamp with time zone,
	"review_at" timestamp with time zone,
	"changed_fields" text[] NOT NULL,
	"reason" text,
	"proposed_by" uuid NOT NULL,
	"proposed_at" timestamp with time zone NOT NULL,
	"agreed_by" uuid,
	"agreed_at" timestamp with time zone,
	"closed_by" uuid,
	"closed_at" timestamp with time zone,
	"close_reason" text,
	CONSTRAINT "boundary_versions_pair_id_id_pk" PRIMARY KEY("pair_id","id")
);
--> statement-breakpoint
ALTER TABLE "boundaries" ADD CONSTRAINT "boundaries_pair_id_pairs_id_fk" FOREIGN KEY ("pair_id") REFERENCES "public"."pairs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "boundary_versions" ADD CONSTRAINT "boundary_versions_pair_id_boundary_id_boundaries_pair_id_id_fk" FOREIGN KEY ("pair_id","boundary_id") REFERENCES "public"."boundaries"("pair_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "boundaries_pair_status_idx" ON "boundaries" USING btree ("pair_id","status","id");--> statement-breakpoint
CREATE INDEX "boundaries_open_ends_at_idx" ON "boundaries" USING btree ("ends_at") WHERE "boundaries"."status" IN ('proposed', 'agreed') AND "boundaries"."ends_at" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "boundaries_agreed_review_at_idx" ON "boundaries" USING btree ("review_at") WHERE "boundaries"."status" = 'agreed' AND "boundaries"."review_at" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "boundary_versions_boundary_idx" ON "boundary_versions" USING btree ("pair_id","boundary_id","version");--> statement-breakpoint
CREATE UNIQUE INDEX "boundary_versions_one_agreed_per_number" ON "boundary_versions" USING btree ("pair_id","boundary_id","version") WHERE "boundary_versions"."status" = 'agreed';--> statement-breakpoint
CREATE UNIQUE INDEX "boundary_versions_one_pending" ON "boundary_versions" USING btree ("pair_id","boundary_id") WHERE "boundary_versions"."status" = 'pending';