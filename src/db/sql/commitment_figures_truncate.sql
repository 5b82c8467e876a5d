-- TRUNCATE commitments empties the figures.
CREATE TRIGGER commitment_figures_truncate AFTER TRUNCATE ON public.commitments FOR EACH STATEMENT EXECUTE FUNCTION commitment_figures_clear();
