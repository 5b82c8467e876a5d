-- The figures of all time (`commitment_figure_totals`, `commitment_streak_breaks`)
-- are kept by triggers on `commitments`, in the transaction of every change,
-- whichever path writes (the service, the sweep, raw SQL).
--
-- Each commitment's part in the figures, once for `all` and once for its
-- category: `sign` -1 for rows as they were, +1 for rows as they are. The
-- columns it reads are the ones `commitment_figures_maintain` compares on
-- update (test/db/sql.test.ts holds the two lists equal).
CREATE OR REPLACE FUNCTION public.commitment_figure_parts(old_rows commitments[], new_rows commitments[])
 RETURNS TABLE(sign integer, pair_id uuid, owner_id uuid, scope text, due_at timestamp with time zone, id uuid, class text, in_time boolean, acknowledged boolean, accepted boolean)
 LANGUAGE sql
 STABLE
AS $function$
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
$function$;
