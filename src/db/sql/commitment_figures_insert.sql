-- The figures follow every insert into commitments (see commitment_figures_maintain).
CREATE TRIGGER commitment_figures_insert AFTER INSERT ON public.commitments REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION commitment_figures_maintain();
