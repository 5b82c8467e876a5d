-- The streaks of every walk of these pairs, from the commitments table (for
-- statements that change several commitments of one walk, and the backfill).
-- The totals rows must exist (their counts are kept apart).
CREATE OR REPLACE FUNCTION public.commitment_streaks_rebuild(p_pairs uuid[])
 RETURNS void
 LANGUAGE sql
AS $function$
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
$function$;
