-- Distributes Kept's schema on a Citus cluster by pair: every pair-scoped
-- table by pair_id, co-located with pairs (one shard holds all of a pair's
-- rows); users and active_pair_members as reference tables; what is keyed
-- by a token or an address left on the coordinator. Run once on the
-- coordinator, as the owner, after the migrations and before traffic:
--   psql -v ON_ERROR_STOP=1 -f src/db/citus/distribute.sql "$KEPT_MIGRATE_DATABASE_URL"
--
-- What test/db/citus.test.ts checks, on plain PostgreSQL, against the
-- schema the migrations build (Citus is not installed where tests run):
-- - this script names every table once; it distributes exactly the tables
--   with a NOT NULL pair_id (and pairs by id), co-located with pairs, but
--   for those keyed by something else, which the test lists with why
--   (active_pair_members by person, stream_tickets by hash); the reference
--   tables are exactly those the pair-scoped tables reference;
-- - every distributed table's primary key and unique indexes include
--   pair_id; foreign keys run between distributed tables on pair_id, or to a
--   reference table, never from a reference or coordinator table to a
--   distributed one;
-- - triggers sit on distributed tables and write only co-located tables,
--   each statement keyed by pair_id; they may read a reference table (a
--   copy on every node); a change in one pair neither writes nor locks
--   another pair's rows of the read model (their xmin and xmax); the only
--   trigger this script drops fires on TRUNCATE alone;
-- - no statement finds a commitment, series or request by its id alone: a
--   row with the same id in another pair is never touched;
-- - one active pair per person: a second active membership is refused by
--   the database however it is written;
-- - no sequence or identity column (ids are UUIDv7; the event log orders by
--   its per-pair seq).
--
-- What only a real Citus cluster can prove:
-- - that these calls run, in this order (users first: the coordinator tables
--   that reference it then become Citus local tables by themselves);
-- - that the read model's statement-level triggers with transition tables
--   work on shards under citus.enable_unsafe_triggers (each shard fires its
--   own, and their statements must run against the co-located local shard),
--   and what they cost there; likewise pair_members' trigger reading the
--   local copy of active_pair_members, and its generated column
--   active_pair_id with the foreign key on it;
-- - that no statement on a request path spans two pairs (router queries
--   only): not checked by the test. Known to span them: a person's list of
--   pairs (GET /v1/pairs, an export, an account's deletion) reads
--   pair_members by user_id on every shard, and the deletion erases that
--   person's words in every pair they were in; forming and ending a pair
--   write active_pair_members on every node, and ending one checks the
--   memberships referencing those rows there; an Idempotency-Key write
--   joins a pair's shard and the coordinator in one (two-phase)
--   transaction; whether the one-statement create (INSERT … SELECT from the
--   pair's row, in data-modifying CTEs) is planned for one shard;
-- - that the sweep's FOR UPDATE SKIP LOCKED claims, NOTIFY to the stream
--   hubs (sent on the coordinator) and the figures in docs/benchmarks.md
--   hold across nodes. (The sweeps' candidate queries read every shard by
--   design; each candidate is then worked on in its own pair.)

CREATE EXTENSION IF NOT EXISTS citus;

-- The figures' read model, the append-only guard and the one-active-pair
-- check are triggers on distributed tables.
SET citus.enable_unsafe_triggers TO on;

-- TRUNCATE commitments empties every pair's figures with it, which on a
-- cluster would reach every shard from each one. A TRUNCATE is never on a
-- request path: here whoever truncates commitments truncates
-- commitment_figure_totals and commitment_streak_breaks beside it.
DROP TRIGGER commitment_figures_truncate ON commitments;
DROP FUNCTION commitment_figures_clear();

-- Read by every pair's rows (their keys to users): a copy on every node.
SELECT create_reference_table('users');
-- Keyed by person (at most one active pair each, by its primary key): read
-- on joining, by the stream tickets and by pair_members' key and trigger on
-- every node; written only when a pair forms or ends.
SELECT create_reference_table('active_pair_members');

-- Stay on the coordinator (keyed by a person, a token or an address, never
-- joined with a pair's rows; none references a distributed table): an
-- invite exists before its pair, and a stream ticket is found by its hash
-- before its pair is known. The test reads this list:
--   local: refresh_families, refresh_tokens, invites, idempotency_keys, rate_limit_buckets, stream_tickets

-- The pair and everything keyed by it, co-located.
SELECT create_distributed_table('pairs', 'id');
SELECT create_distributed_table('pair_members', 'pair_id', colocate_with => 'pairs');
SELECT create_distributed_table('event_heads', 'pair_id', colocate_with => 'pairs');
SELECT create_distributed_table('events', 'pair_id', colocate_with => 'pairs');
SELECT create_distributed_table('series', 'pair_id', colocate_with => 'pairs');
SELECT create_distributed_table('commitments', 'pair_id', colocate_with => 'pairs');
SELECT create_distributed_table('commitment_requests', 'pair_id', colocate_with => 'pairs');
SELECT create_distributed_table('commitment_texts', 'pair_id', colocate_with => 'pairs');
SELECT create_distributed_table('commitment_figure_totals', 'pair_id', colocate_with => 'pairs');
SELECT create_distributed_table('commitment_streak_breaks', 'pair_id', colocate_with => 'pairs');
SELECT create_distributed_table('boundaries', 'pair_id', colocate_with => 'pairs');
SELECT create_distributed_table('boundary_versions', 'pair_id', colocate_with => 'pairs');
