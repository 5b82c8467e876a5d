CREATE TABLE "commitment_texts" (
	"pair_id" uuid NOT NULL,
	"commitment_id" uuid NOT NULL,
	"n" integer NOT NULL,
	"field" text NOT NULL,
	"text" text,
	"salt" text,
	"hash" text,
	"author_id" uuid NOT NULL,
	"written_at" timestamp with time zone NOT NULL,
	"report_number" integer,
	"outcome" text,
	"erased_at" timestamp with time zone,
	CONSTRAINT "commitment_texts_pair_id_commitment_id_n_pk" PRIMARY KEY("pair_id","commitment_id","n")
);
--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "share_time_zone" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "pair_members" ADD COLUMN "display_name_at_end" text;--> statement-breakpoint
ALTER TABLE "pair_members" ADD COLUMN "time_zone_at_end" text;--> statement-breakpoint
ALTER TABLE "pair_members" ADD COLUMN "shared_time_zone_at_end" boolean;--> statement-breakpoint
ALTER TABLE "commitment_texts" ADD CONSTRAINT "commitment_texts_pair_id_commitment_id_commitments_pair_id_id_fk" FOREIGN KEY ("pair_id","commitment_id") REFERENCES "public"."commitments"("pair_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "commitment_texts" ADD CONSTRAINT "commitment_texts_author_id_users_id_fk" FOREIGN KEY ("author_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "commitment_texts_author_idx" ON "commitment_texts" USING btree ("pair_id","author_id");--> statement-breakpoint
-- Pairs that ended before this migration: their members frozen as they are now, the closest record
-- there is; a zone was never shared before `share_time_zone` existed.
UPDATE "pair_members" AS m
SET "display_name_at_end" = u."display_name", "time_zone_at_end" = u."time_zone", "shared_time_zone_at_end" = false
FROM "users" AS u, "pairs" AS p
WHERE u."id" = m."user_id" AND p."id" = m."pair_id" AND p."status" = 'ended';
--> statement-breakpoint
-- Words written before this migration: the versions still on the commitments, without a hash (no event
-- ever carried one). A report note is numbered by the reports its events record; the words of a deleted
-- account are already gone and are marked erased.
INSERT INTO "commitment_texts" ("pair_id", "commitment_id", "n", "field", "text", "author_id", "written_at", "report_number", "outcome", "erased_at")
SELECT c."pair_id", c."id", row_number() OVER (PARTITION BY c."id" ORDER BY v.ord), v.field,
       CASE WHEN author."deleted_at" IS NULL THEN v.text END, v.author_id, v.written_at,
       CASE WHEN v.field IN ('reportNote', 'disputeNote') THEN greatest(reports.n, 1) END, v.outcome, author."deleted_at"
FROM "commitments" AS c
LEFT JOIN LATERAL (
  SELECT pm."user_id" FROM "pair_members" AS pm WHERE pm."pair_id" = c."pair_id" AND pm."user_id" <> c."owner_id" LIMIT 1
) AS partner ON true
CROSS JOIN LATERAL (
  SELECT count(*)::int AS n FROM "events" AS e
  WHERE e."pair_id" = c."pair_id" AND e."subject_id" = c."id" AND e."type" = 'commitment.reported'
) AS reports
CROSS JOIN LATERAL (VALUES
  (1, 'title', c."title", c."owner_id", c."created_at", NULL::text, true),
  (2, 'details', c."details", c."owner_id", c."created_at", NULL::text, c."details" IS NOT NULL),
  (3, 'reportNote', c."report_note", c."owner_id", c."reported_at", c."outcome", c."reported_at" IS NOT NULL),
  (4, 'disputeNote', c."confirmation_note", partner."user_id", c."confirmation_at", NULL::text,
     c."confirmation_note" IS NOT NULL AND partner."user_id" IS NOT NULL AND c."confirmation_at" IS NOT NULL)
) AS v(ord, field, text, author_id, written_at, outcome, present)
JOIN "users" AS author ON author."id" = v.author_id
WHERE v.present;
