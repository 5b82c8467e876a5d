-- Adds the counts of `new_rows` and takes away those of `old_rows`, by
-- deltas, in key order (the lock order).
CREATE OR REPLACE FUNCTION public.commitment_figures_count(old_rows commitments[], new_rows commitments[])
 RETURNS void
 LANGUAGE sql
AS $function$
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
$function$;
