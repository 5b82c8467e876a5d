-- The figures of all time (`commitment_figure_totals`, `commitment_streak_breaks`)
-- are kept by a trigger on `commitments`, in the transaction of every change,
-- whichever path writes (the service, the sweep, raw SQL). Counts move by
-- deltas. Each streak walk (settled commitments of one owner and scope, by
-- (due_at, id): kept extends, missed or lapsed breaks) is stored as its breaks,
-- each with the run of kept just before it, and the run after the last break
-- (`current_streak`). One commitment changing in a walk is a constant number of
-- indexed steps, except a break settling inside a run: it counts the kept after
-- it in that run (bounded by the run, never by the history). A statement that
-- changes several commitments of one walk rebuilds the streaks of that pair.

-- Each commitment's part in the figures, once for `all` and once for its
-- category: `sign` -1 for rows as they were, +1 for rows as they are.
CREATE FUNCTION commitment_figure_parts(old_rows commitments[], new_rows commitments[])
RETURNS TABLE (
  sign integer, pair_id uuid, owner_id uuid, scope text, due_at timestamptz, id uuid,
  class text, in_time boolean, acknowledged boolean, accepted boolean
)
LANGUAGE sql STABLE AS $$
  SELECT c.sign, c.pair_id, c.owner_id, s.scope, c.due_at, c.id,
         commitment_figure_class(c.status, c.outcome, c.lapsed_at),
         coalesce(c.report_timing IN ('early', 'onTime'), false),
         c.acknowledged_at IS NOT NULL,
         c.acknowledgement_accepted_at IS NOT NULL
  FROM (
    SELECT -1 AS sign, * FROM unnest(old_rows)
    UNION ALL
    SELECT 1, * FROM unnest(new_rows)
  ) AS c
  CROSS JOIN LATERAL (VALUES ('all'), (c.category)) AS s(scope)
$$;
--> statement-breakpoint
-- Adds the counts of `new_rows` and takes away those of `old_rows`, in key order (the lock order).
CREATE FUNCTION commitment_figures_count(old_rows commitments[], new_rows commitments[]) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO commitment_figure_totals AS t (
    pair_id, owner_id, scope, kept, missed, lapsed, withdrawn, disputed, awaiting_confirmation, open,
    reported_in_time, acknowledged_misses, acknowledgements_accepted
  )
  SELECT * FROM (
    SELECT pair_id, owner_id, scope,
           coalesce(sum(sign) FILTER (WHERE class = 'kept'), 0)::int,
           coalesce(sum(sign) FILTER (WHERE class = 'missed'), 0)::int,
           coalesce(sum(sign) FILTER (WHERE class = 'lapsed'), 0)::int,
           coalesce(sum(sign) FILTER (WHERE class = 'withdrawn'), 0)::int,
           coalesce(sum(sign) FILTER (WHERE class = 'disputed'), 0)::int,
           coalesce(sum(sign) FILTER (WHERE class = 'awaitingConfirmation'), 0)::int,
           coalesce(sum(sign) FILTER (WHERE class = 'open'), 0)::int,
           coalesce(sum(sign) FILTER (WHERE class IN ('kept', 'missed') AND in_time), 0)::int,
           coalesce(sum(sign) FILTER (WHERE acknowledged), 0)::int,
           coalesce(sum(sign) FILTER (WHERE accepted), 0)::int
    FROM commitment_figure_parts(old_rows, new_rows)
    GROUP BY pair_id, owner_id, scope
  ) AS delta (pair_id, owner_id, scope, kept, missed, lapsed, withdrawn, disputed, awaiting, open, in_time, acknowledged, accepted)
  WHERE (kept, missed, lapsed, withdrawn, disputed, awaiting, open, in_time, acknowledged, accepted)
        <> (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
  ORDER BY pair_id, owner_id, scope
  ON CONFLICT (pair_id, owner_id, scope) DO UPDATE SET
    kept = t.kept + excluded.kept,
    missed = t.missed + excluded.missed,
    lapsed = t.lapsed + excluded.lapsed,
    withdrawn = t.withdrawn + excluded.withdrawn,
    disputed = t.disputed + excluded.disputed,
    awaiting_confirmation = t.awaiting_confirmation + excluded.awaiting_confirmation,
    open = t.open + excluded.open,
    reported_in_time = t.reported_in_time + excluded.reported_in_time,
    acknowledged_misses = t.acknowledged_misses + excluded.acknowledged_misses,
    acknowledgements_accepted = t.acknowledgements_accepted + excluded.acknowledgements_accepted
$$;
--> statement-breakpoint
-- One element (`kept`, or a break) joins (`sign` 1) or leaves (-1) one walk, whose
-- other elements are as stored. The commitments table must hold the walk's
-- final state except this element: a break joining counts the kept after it there.
CREATE FUNCTION commitment_walk_step(
  p_pair uuid, p_owner uuid, p_scope text, p_due timestamptz, p_id uuid, p_kept boolean, p_sign integer
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  totals commitment_figure_totals%ROWTYPE;
  next_due timestamptz;
  next_id uuid;
  has_next boolean;
  -- The run the element falls in (ended by the next break, or the trailing run), before and after.
  run integer;
  run_after integer;
  -- A break joining: the kept after it in `run`; a break leaving: the run it ended.
  kept_after integer;
  ended_run integer;
  shrunk boolean;
BEGIN
  -- The counts step made the row (the element counts in this scope, now or before); this lock guards the walk.
  SELECT * INTO totals FROM commitment_figure_totals
  WHERE pair_id = p_pair AND owner_id = p_owner AND scope = p_scope FOR UPDATE;
  SELECT b.due_at, b.commitment_id, b.run_before INTO next_due, next_id, run
  FROM commitment_streak_breaks b
  WHERE b.pair_id = p_pair AND b.owner_id = p_owner AND b.scope = p_scope AND (b.due_at, b.commitment_id) > (p_due, p_id)
  ORDER BY b.due_at, b.commitment_id
  LIMIT 1;
  has_next := FOUND;
  IF NOT has_next THEN
    run := totals.current_streak;
  END IF;

  IF p_kept THEN
    run_after := run + p_sign;
    shrunk := p_sign < 0;
  ELSIF p_sign > 0 THEN
    -- The new break splits the run: the kept before it stay with it, those after with the next break.
    IF p_scope = 'all' AND has_next THEN
      SELECT count(*) INTO kept_after FROM commitments c
      WHERE c.pair_id = p_pair AND c.owner_id = p_owner
        AND (c.due_at, c.id) > (p_due, p_id) AND (c.due_at, c.id) < (next_due, next_id)
        AND commitment_figure_class(c.status, c.outcome, c.lapsed_at) = 'kept';
    ELSIF p_scope = 'all' THEN
      SELECT count(*) INTO kept_after FROM commitments c
      WHERE c.pair_id = p_pair AND c.owner_id = p_owner
        AND (c.due_at, c.id) > (p_due, p_id)
        AND commitment_figure_class(c.status, c.outcome, c.lapsed_at) = 'kept';
    ELSIF has_next THEN
      SELECT count(*) INTO kept_after FROM commitments c
      WHERE c.pair_id = p_pair AND c.owner_id = p_owner AND c.category = p_scope
        AND (c.due_at, c.id) > (p_due, p_id) AND (c.due_at, c.id) < (next_due, next_id)
        AND commitment_figure_class(c.status, c.outcome, c.lapsed_at) = 'kept';
    ELSE
      SELECT count(*) INTO kept_after FROM commitments c
      WHERE c.pair_id = p_pair AND c.owner_id = p_owner AND c.category = p_scope
        AND (c.due_at, c.id) > (p_due, p_id)
        AND commitment_figure_class(c.status, c.outcome, c.lapsed_at) = 'kept';
    END IF;
    INSERT INTO commitment_streak_breaks (pair_id, owner_id, scope, due_at, commitment_id, run_before)
    VALUES (p_pair, p_owner, p_scope, p_due, p_id, run - kept_after);
    run_after := kept_after;
    shrunk := true;
  ELSE
    -- The break leaves: the run it ended joins the next one.
    DELETE FROM commitment_streak_breaks b
    WHERE b.pair_id = p_pair AND b.owner_id = p_owner AND b.scope = p_scope AND b.due_at = p_due AND b.commitment_id = p_id
    RETURNING b.run_before INTO ended_run;
    run_after := run + ended_run;
    shrunk := false;
  END IF;

  IF has_next THEN
    UPDATE commitment_streak_breaks b SET run_before = run_after
    WHERE b.pair_id = p_pair AND b.owner_id = p_owner AND b.scope = p_scope AND b.due_at = next_due AND b.commitment_id = next_id;
  ELSE
    totals.current_streak := run_after;
  END IF;
  IF NOT shrunk THEN
    totals.longest_streak := greatest(totals.longest_streak, run_after);
  ELSIF run = totals.longest_streak THEN
    -- The longest run may have shrunk: the longest is now the longest of the runs (one index probe).
    totals.longest_streak := greatest(totals.current_streak, (
      SELECT max(b.run_before) FROM commitment_streak_breaks b
      WHERE b.pair_id = p_pair AND b.owner_id = p_owner AND b.scope = p_scope
    ));
  END IF;
  UPDATE commitment_figure_totals t
  SET current_streak = totals.current_streak, longest_streak = totals.longest_streak
  WHERE t.pair_id = p_pair AND t.owner_id = p_owner AND t.scope = p_scope;
END;
$$;
--> statement-breakpoint
-- The streaks of every walk of these pairs, from the commitments table (for
-- statements that change several commitments of one walk, and the backfill).
-- The totals rows must exist (their counts are kept apart).
CREATE FUNCTION commitment_streaks_rebuild(p_pairs uuid[]) RETURNS void
LANGUAGE sql AS $$
  DELETE FROM commitment_streak_breaks WHERE pair_id = ANY(p_pairs);
  -- `breaks`: how many breaks come up to and including each settled commitment.
  WITH walk AS (
    SELECT p.pair_id, p.owner_id, p.scope, p.due_at, p.id, p.class = 'kept' AS kept,
           count(*) FILTER (WHERE p.class <> 'kept')
             OVER (PARTITION BY p.pair_id, p.owner_id, p.scope ORDER BY p.due_at, p.id) AS breaks
    FROM commitments c
    CROSS JOIN LATERAL commitment_figure_parts(ARRAY[]::commitments[], ARRAY[c]) AS p
    WHERE c.pair_id = ANY(p_pairs) AND p.class IN ('kept', 'missed', 'lapsed')
  ),
  runs AS (
    SELECT pair_id, owner_id, scope, breaks, count(*) AS length FROM walk WHERE kept GROUP BY 1, 2, 3, 4
  ),
  stored AS (
    INSERT INTO commitment_streak_breaks (pair_id, owner_id, scope, due_at, commitment_id, run_before)
    SELECT w.pair_id, w.owner_id, w.scope, w.due_at, w.id, coalesce(r.length, 0)
    FROM walk w
    LEFT JOIN runs r ON (r.pair_id, r.owner_id, r.scope, r.breaks) = (w.pair_id, w.owner_id, w.scope, w.breaks - 1)
    WHERE NOT w.kept
  ),
  last AS (
    SELECT pair_id, owner_id, scope, max(breaks) AS breaks FROM walk GROUP BY 1, 2, 3
  )
  UPDATE commitment_figure_totals t
  SET current_streak = coalesce((
        SELECT r.length FROM runs r JOIN last l USING (pair_id, owner_id, scope, breaks)
        WHERE (r.pair_id, r.owner_id, r.scope) = (t.pair_id, t.owner_id, t.scope)
      ), 0),
      longest_streak = coalesce((
        SELECT max(r.length) FROM runs r WHERE (r.pair_id, r.owner_id, r.scope) = (t.pair_id, t.owner_id, t.scope)
      ), 0)
  WHERE t.pair_id = ANY(p_pairs);
$$;
--> statement-breakpoint
-- What one statement changed: counts by deltas; each walk with one commitment
-- changed by steps (leaving first, then joining); a walk with several rebuilt.
CREATE FUNCTION commitment_figures_apply(old_rows commitments[], new_rows commitments[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  change record;
  rebuild uuid[] := '{}';
BEGIN
  PERFORM commitment_figures_count(old_rows, new_rows);
  FOR change IN
    WITH net AS (
      SELECT pair_id, owner_id, scope, due_at, id, class = 'kept' AS kept, sum(sign)::int AS sign
      FROM commitment_figure_parts(old_rows, new_rows)
      WHERE class IN ('kept', 'missed', 'lapsed')
      GROUP BY pair_id, owner_id, scope, due_at, id, class = 'kept'
      HAVING sum(sign) <> 0
    ),
    walks AS (
      SELECT pair_id, owner_id, scope, count(DISTINCT id) AS commitments FROM net GROUP BY pair_id, owner_id, scope
    )
    SELECT net.*, walks.commitments FROM net JOIN walks USING (pair_id, owner_id, scope)
    ORDER BY pair_id, owner_id, scope, sign
  LOOP
    IF change.commitments > 1 THEN
      rebuild := rebuild || change.pair_id;
    ELSIF NOT change.pair_id = ANY(rebuild) THEN
      PERFORM commitment_walk_step(
        change.pair_id, change.owner_id, change.scope, change.due_at, change.id, change.kept, change.sign
      );
    END IF;
  END LOOP;
  IF cardinality(rebuild) > 0 THEN
    PERFORM commitment_streaks_rebuild(rebuild);
  END IF;
END;
$$;
--> statement-breakpoint
CREATE FUNCTION commitment_figures_maintain() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM commitment_figures_apply('{}', ARRAY(SELECT n::commitments FROM new_rows n));
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM commitment_figures_apply(ARRAY(SELECT o::commitments FROM old_rows o), '{}');
  ELSIF EXISTS (
    -- Most updates touch nothing the figures read (notes, proposals, versions): then nothing to do.
    SELECT id, pair_id, owner_id, category, due_at, status, outcome, lapsed_at, report_timing,
           acknowledged_at IS NULL, acknowledgement_accepted_at IS NULL
    FROM new_rows
    EXCEPT ALL
    SELECT id, pair_id, owner_id, category, due_at, status, outcome, lapsed_at, report_timing,
           acknowledged_at IS NULL, acknowledgement_accepted_at IS NULL
    FROM old_rows
  ) THEN
    PERFORM commitment_figures_apply(ARRAY(SELECT o::commitments FROM old_rows o), ARRAY(SELECT n::commitments FROM new_rows n));
  END IF;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER commitment_figures_insert AFTER INSERT ON commitments
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION commitment_figures_maintain();
--> statement-breakpoint
CREATE TRIGGER commitment_figures_update AFTER UPDATE ON commitments
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION commitment_figures_maintain();
--> statement-breakpoint
CREATE TRIGGER commitment_figures_delete AFTER DELETE ON commitments
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION commitment_figures_maintain();
--> statement-breakpoint
CREATE FUNCTION commitment_figures_clear() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE commitment_figure_totals, commitment_streak_breaks;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER commitment_figures_truncate AFTER TRUNCATE ON commitments
FOR EACH STATEMENT EXECUTE FUNCTION commitment_figures_clear();
--> statement-breakpoint
-- Backfill from the rows already there, a pair at a time.
DO $$
DECLARE
  pair uuid;
BEGIN
  FOR pair IN SELECT DISTINCT pair_id FROM commitments LOOP
    PERFORM commitment_figures_count('{}', ARRAY(SELECT c FROM commitments c WHERE c.pair_id = pair));
  END LOOP;
  PERFORM commitment_streaks_rebuild(ARRAY(SELECT DISTINCT pair_id FROM commitments));
END;
$$;
