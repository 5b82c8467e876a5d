-- The trigger function of `commitment_figures_insert`, `_update` and
-- `_delete`. Creating a commitment is the commonest write, and a new open
-- commitment only adds to `open` (it is in no streak walk and counts
-- nowhere else): such inserts take one upsert instead of the general path.
-- Any other insert (raw SQL, a restore, seeding settled rows) still takes
-- the general path. An update whose rows differ in none of the columns the
-- figures read does nothing; the list it compares must name every column
-- `commitment_figure_parts` and the walk read (test/db/sql.test.ts).
CREATE OR REPLACE FUNCTION public.commitment_figures_maintain()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
  IF TG_OP = 'INSERT' THEN
    -- (Nested: an expression naming new_rows cannot even be planned under DELETE.)
    IF NOT EXISTS (
      SELECT 1 FROM new_rows n
      WHERE commitment_figure_class(n.status, n.outcome, n.lapsed_at) <> 'open'
         OR n.report_timing IS NOT NULL OR n.acknowledged_at IS NOT NULL OR n.acknowledgement_accepted_at IS NOT NULL
    ) THEN
      INSERT INTO commitment_figure_totals AS t (pair_id, owner_id, scope, open)
      SELECT n.pair_id, n.owner_id, s.scope, count(*)::int
      FROM new_rows n CROSS JOIN LATERAL (VALUES ('all'), (n.category)) AS s(scope)
      GROUP BY n.pair_id, n.owner_id, s.scope
      ORDER BY n.pair_id, n.owner_id, s.scope
      ON CONFLICT (pair_id, owner_id, scope) DO UPDATE SET open = t.open + excluded.open;
    ELSE
      PERFORM commitment_figures_apply('{}', ARRAY(SELECT n::commitments FROM new_rows n));
    END IF;
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
$function$;
