-- What one statement changed: counts by deltas; each walk with one commitment
-- changed by steps (leaving first, then joining); a walk with several rebuilt.
CREATE OR REPLACE FUNCTION public.commitment_figures_apply(old_rows commitments[], new_rows commitments[])
 RETURNS void
 LANGUAGE plpgsql
AS $function$
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
$function$;
