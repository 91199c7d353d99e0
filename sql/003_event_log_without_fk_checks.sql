-- The event log (game_events, game_inputs) without foreign-key checks on insert.
--
-- Each game writes about 18 event and input rows; checking each against games cost about a
-- fifth of PostgreSQL's time in the games benchmark (docs/benchmarks.md, issue 4). The server
-- never writes one of these rows before its games row (src/store/store_pg.c keeps that order
-- when it batches), so the check found nothing. What the constraint also gave, ON DELETE
-- CASCADE, stays: deleting a game deletes its log, by the trigger below.
ALTER TABLE game_events DROP CONSTRAINT IF EXISTS game_events_game_id_fkey;
ALTER TABLE game_inputs DROP CONSTRAINT IF EXISTS game_inputs_game_id_fkey;

CREATE OR REPLACE FUNCTION games_delete_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM game_events WHERE game_id = OLD.id;
    DELETE FROM game_inputs WHERE game_id = OLD.id;
    RETURN OLD;
END
$$;

DROP TRIGGER IF EXISTS games_delete_log ON games;
CREATE TRIGGER games_delete_log AFTER DELETE ON games FOR EACH ROW EXECUTE FUNCTION games_delete_log();
