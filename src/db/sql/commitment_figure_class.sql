-- Where a commitment stands for the figures, from its row alone (the edge
-- rule "Settled"): withdrawn and open as they are; a lapse stays a lapse
-- until a late report is confirmed (a pending or disputed late report does
-- not undo it); otherwise a report awaiting an answer, a disputed one, or a
-- confirmed outcome. The one place this rule is written: the figures, the
-- trend, the totals' trigger and the kept indexes all call it. A plain SQL
-- expression, so the planner inlines it (and matches partial indexes on it).
CREATE OR REPLACE FUNCTION public.commitment_figure_class(status text, outcome text, lapsed_at timestamp with time zone)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
  SELECT CASE
    WHEN status = 'withdrawn' THEN 'withdrawn'
    WHEN status = 'open' THEN 'open'
    WHEN status = 'lapsed' OR (lapsed_at IS NOT NULL AND status <> 'confirmed') THEN 'lapsed'
    WHEN status = 'reported' THEN 'awaitingConfirmation'
    WHEN status = 'disputed' THEN 'disputed'
    WHEN outcome = 'kept' THEN 'kept'
    ELSE 'missed'
  END
$function$;
