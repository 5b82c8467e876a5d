-- Events are never updated or deleted, whoever asks.
CREATE TRIGGER events_append_only BEFORE DELETE OR UPDATE ON public.events FOR EACH ROW EXECUTE FUNCTION kept_refuse_event_change();
