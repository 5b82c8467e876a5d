-- An active membership whose person is active in another pair is refused.
CREATE TRIGGER pair_members_one_active_pair BEFORE INSERT OR UPDATE ON public.pair_members FOR EACH ROW WHEN (new.active) EXECUTE FUNCTION pair_members_refuse_second_active();
