-- Events are the honest record of a pair: nothing may rewrite or erase them
-- (the triggers `events_append_only` and `events_no_truncate`).
CREATE OR REPLACE FUNCTION public.kept_refuse_event_change()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
  RAISE EXCEPTION 'events are append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$function$;
