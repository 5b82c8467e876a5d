-- Unsettled commitments (open, awaiting confirmation, disputed) leave the read
-- model: the figures count them at read time over a partial index of the
-- unsettled ones (bounded by what is live, never by the history). So creating
-- a commitment, the commonest write, changes nothing in the read model and
-- its trigger returns at once; the settled classes, the report and
-- acknowledgement counts and the streaks are kept as before. (Migration 0012
-- drops the three columns and adds the index.)
CREATE OR REPLACE FUNCTION commitment_figures_count(old_rows commitments[], new_rows commitments[]) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO commitment_figure_totals AS t (
    pair_id, owner_id, scope, kept, missed, lapsed, withdrawn,
    reported_in_time, acknowledged_misses, acknowledgements_accepted
  )
  SELECT * FROM (
    SELECT pair_id, owner_id, scope,
           coalesce(sum(sign) FILTER (WHERE class = 'kept'), 0)::int,
           coalesce(sum(sign) FILTER (WHERE class = 'missed'), 0)::int,
           coalesce(sum(sign) FILTER (WHERE class = 'lapsed'), 0)::int,
           coalesce(sum(sign) FILTER (WHERE class = 'withdrawn'), 0)::int,
           coalesce(sum(sign) FILTER (WHERE class IN ('kept', 'missed') AND in_time), 0)::int,
           coalesce(sum(sign) FILTER (WHERE acknowledged), 0)::int,
           coalesce(sum(sign) FILTER (WHERE accepted), 0)::int
    FROM commitment_figure_parts(old_rows, new_rows)
    GROUP BY pair_id, owner_id, scope
  ) AS delta (pair_id, owner_id, scope, kept, missed, lapsed, withdrawn, in_time, acknowledged, accepted)
  WHERE (kept, missed, lapsed, withdrawn, in_time, acknowledged, accepted) <> (0, 0, 0, 0, 0, 0, 0)
  ORDER BY pair_id, owner_id, scope
  ON CONFLICT (pair_id, owner_id, scope) DO UPDATE SET
    kept = t.kept + excluded.kept,
    missed = t.missed + excluded.missed,
    lapsed = t.lapsed + excluded.lapsed,
    withdrawn = t.withdrawn + excluded.withdrawn,
    reported_in_time = t.reported_in_time + excluded.reported_in_time,
    acknowledged_misses = t.acknowledged_misses + excluded.acknowledged_misses,
    acknowledgements_accepted = t.acknowledgements_accepted + excluded.acknowledgements_accepted
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION commitment_figures_maintain() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    -- (Nested: an expression naming new_rows cannot even be planned under DELETE.)
    -- Unsettled rows with no acknowledgement (every create) count nowhere here.
    IF EXISTS (
      SELECT 1 FROM new_rows n
      WHERE commitment_figure_class(n.status, n.outcome, n.lapsed_at) NOT IN ('open', 'awaitingConfirmation', 'disputed')
         OR n.acknowledged_at IS NOT NULL OR n.acknowledgement_accepted_at IS NOT NULL
    ) THEN
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
$$;
