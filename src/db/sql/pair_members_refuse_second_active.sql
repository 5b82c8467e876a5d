-- A second active membership of one person is refused as the unique
-- violation it is (the trigger `pair_members_one_active_pair`), before the
-- foreign key to `active_pair_members` would refuse it as a missing row.
-- Reads only `active_pair_members`, a reference table under Citus.
CREATE OR REPLACE FUNCTION public.pair_members_refuse_second_active()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
  IF EXISTS (SELECT 1 FROM active_pair_members a WHERE a.user_id = NEW.user_id AND a.pair_id <> NEW.pair_id) THEN
    RAISE EXCEPTION 'a person is in at most one active pair'
      USING ERRCODE = 'unique_violation', CONSTRAINT = 'active_pair_members_pkey', TABLE = 'active_pair_members';
  END IF;
  RETURN NEW;
END;
$function$;
