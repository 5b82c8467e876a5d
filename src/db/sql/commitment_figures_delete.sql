-- The figures follow every delete from commitments.
CREATE TRIGGER commitment_figures_delete AFTER DELETE ON public.commitments REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION commitment_figures_maintain();
