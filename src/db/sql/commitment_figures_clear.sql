-- TRUNCATE commitments empties the figures too (the trigger
-- `commitment_figures_truncate`).
CREATE OR REPLACE FUNCTION public.commitment_figures_clear()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
  TRUNCATE commitment_figure_totals, commitment_streak_breaks;
  RETURN NULL;
END;
$function$;
