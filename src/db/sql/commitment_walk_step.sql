-- One element (`kept`, or a break) joins (`sign` 1) or leaves (-1) one walk
-- (settled commitments of one owner and scope, by (due_at, id): kept
-- extends, missed or lapsed breaks), whose other elements are as stored.
-- A walk is stored as its breaks, each with the run of kept just before it,
-- and the run after the last break (`current_streak`). The commitments
-- table must hold the walk's final state except this element: a break
-- joining counts the kept after it there (bounded by the run, never by the
-- history).
CREATE OR REPLACE FUNCTION public.commitment_walk_step(p_pair uuid, p_owner uuid, p_scope text, p_due timestamp with time zone, p_id uuid, p_kept boolean, p_sign integer)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
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
$function$;
