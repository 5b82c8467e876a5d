-- Every pair-scoped key names its pair, so the schema distributes on Citus
-- by pair_id as it stands (src/db/citus/distribute.sql, test/db/citus.test.ts).
-- Rebuilding the primary keys of commitments, series and commitment_requests
-- holds their tables under an exclusive lock while the new index builds.

-- One active pair per person moves from a unique index across pairs to a
-- table keyed by the person, filled from the active memberships.
CREATE TABLE "active_pair_members" (
	"user_id" uuid PRIMARY KEY NOT NULL,
	"pair_id" uuid NOT NULL,
	CONSTRAINT "active_pair_members_user_pair_key" UNIQUE("user_id","pair_id")
);
--> statement-breakpoint
ALTER TABLE "active_pair_members" ADD CONSTRAINT "active_pair_members_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
INSERT INTO "active_pair_members" ("user_id", "pair_id") SELECT "user_id", "pair_id" FROM "pair_members" WHERE "active";--> statement-breakpoint
ALTER TABLE "pair_members" ADD COLUMN "active_pair_id" uuid GENERATED ALWAYS AS (CASE WHEN active THEN pair_id END) STORED;--> statement-breakpoint
ALTER TABLE "pair_members" ADD CONSTRAINT "pair_members_active_pair_fk" FOREIGN KEY ("user_id","active_pair_id") REFERENCES "public"."active_pair_members"("user_id","pair_id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
DROP INDEX "pair_members_one_active_pair";--> statement-breakpoint
-- src/db/sql/pair_members_refuse_second_active.sql
CREATE OR REPLACE FUNCTION pair_members_refuse_second_active() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM active_pair_members a WHERE a.user_id = NEW.user_id AND a.pair_id <> NEW.pair_id) THEN
    RAISE EXCEPTION 'a person is in at most one active pair'
      USING ERRCODE = 'unique_violation', CONSTRAINT = 'active_pair_members_pkey', TABLE = 'active_pair_members';
  END IF;
  RETURN NEW;
END;
$$;--> statement-breakpoint
-- src/db/sql/pair_members_one_active_pair.sql
CREATE TRIGGER pair_members_one_active_pair BEFORE INSERT OR UPDATE ON public.pair_members FOR EACH ROW WHEN (new.active) EXECUTE FUNCTION pair_members_refuse_second_active();--> statement-breakpoint

-- Keys by pair: the foreign key to series goes first, as it needs series' old key.
ALTER TABLE "commitments" DROP CONSTRAINT "commitments_series_id_series_id_fk";--> statement-breakpoint
ALTER TABLE "commitments" DROP CONSTRAINT "commitments_pkey";--> statement-breakpoint
ALTER TABLE "commitments" ADD CONSTRAINT "commitments_pair_id_id_pk" PRIMARY KEY("pair_id","id");--> statement-breakpoint
ALTER TABLE "series" DROP CONSTRAINT "series_pkey";--> statement-breakpoint
ALTER TABLE "series" ADD CONSTRAINT "series_pair_id_id_pk" PRIMARY KEY("pair_id","id");--> statement-breakpoint
ALTER TABLE "commitment_requests" DROP CONSTRAINT "commitment_requests_pkey";--> statement-breakpoint
ALTER TABLE "commitment_requests" ADD CONSTRAINT "commitment_requests_pair_id_id_pk" PRIMARY KEY("pair_id","id");--> statement-breakpoint
ALTER TABLE "commitments" ADD CONSTRAINT "commitments_pair_id_series_id_series_pair_id_id_fk" FOREIGN KEY ("pair_id","series_id") REFERENCES "public"."series"("pair_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
DROP INDEX "commitments_series_idx";--> statement-breakpoint
CREATE INDEX "commitments_series_idx" ON "commitments" USING btree ("pair_id","series_id");--> statement-breakpoint

-- Invites and stream tickets stay on the coordinator: no key to the distributed pairs.
ALTER TABLE "invites" DROP CONSTRAINT "invites_pair_id_pairs_id_fk";--> statement-breakpoint
ALTER TABLE "stream_tickets" DROP CONSTRAINT "stream_tickets_pair_id_pairs_id_fk";
