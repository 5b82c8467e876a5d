-- The figures follow every update of commitments. No `UPDATE OF` column
-- list (PostgreSQL refuses one beside transition tables): the function
-- compares the columns the figures read instead.
CREATE TRIGGER commitment_figures_update AFTER UPDATE ON public.commitments REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION commitment_figures_maintain();
