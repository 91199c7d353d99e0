-- Fencing tokens (--cluster): PostgreSQL refuses the writes of a room's deposed owner.
--
-- A room's owner holds a fence from the room directory (src/cluster/directory.c), higher for
-- each new owner, and writes it with the game's rows. games.fence is the fence of the last
-- owner that wrote the game: a games row written with a higher one raises it (a new owner
-- takes over), one written with a lower one is refused, and so is a participants, event or
-- input row whose fence is lower than its game's. A single server writes 0 everywhere, which
-- is refused by nothing as long as the game's fence is 0.
--
-- The refusal is SQLSTATE MTF01 (the store drops the game's rows and counts them in
-- store_fenced_writes_total) with the game's id as its DETAIL. The log tables are checked once
-- per statement (a join against games over the statement's rows), not per row: sql/003 dropped
-- their foreign-key checks for what a check per row cost.
ALTER TABLE games ADD COLUMN fence bigint NOT NULL DEFAULT 0;
ALTER TABLE game_participants ADD COLUMN fence bigint NOT NULL DEFAULT 0;
ALTER TABLE game_events ADD COLUMN fence bigint NOT NULL DEFAULT 0;
ALTER TABLE game_inputs ADD COLUMN fence bigint NOT NULL DEFAULT 0;

-- Called only for a lower fence (the trigger's WHEN): an equal or higher one is the SET itself.
CREATE OR REPLACE FUNCTION games_refuse_stale_fence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stale fence: game % is at fence %, this write has %', OLD.id, OLD.fence, NEW.fence
        USING ERRCODE = 'MTF01', DETAIL = OLD.id::text;
END
$$;

DROP TRIGGER IF EXISTS games_refuse_stale_fence ON games;
CREATE TRIGGER games_refuse_stale_fence BEFORE UPDATE ON games
    FOR EACH ROW WHEN (NEW.fence < OLD.fence) EXECUTE FUNCTION games_refuse_stale_fence();

-- The rows of a statement (new_rows) against their games' fences. A game without a games row
-- has nothing to compare with (the writer never sends one before it).
CREATE OR REPLACE FUNCTION game_rows_refuse_stale_fence() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    s record;
BEGIN
    SELECT n.game_id, n.fence AS wrote, g.fence AS held INTO s
      FROM new_rows n JOIN games g ON g.id = n.game_id
     WHERE n.fence < g.fence LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'stale fence: game % is at fence %, this write has %', s.game_id, s.held, s.wrote
            USING ERRCODE = 'MTF01', DETAIL = s.game_id::text;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS game_events_refuse_stale_fence ON game_events;
CREATE TRIGGER game_events_refuse_stale_fence AFTER INSERT ON game_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION game_rows_refuse_stale_fence();
DROP TRIGGER IF EXISTS game_inputs_refuse_stale_fence ON game_inputs;
CREATE TRIGGER game_inputs_refuse_stale_fence AFTER INSERT ON game_inputs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION game_rows_refuse_stale_fence();
-- Participants are upserted: their inserted and their updated rows (one trigger each: a
-- trigger with a transition table has one event).
DROP TRIGGER IF EXISTS game_participants_insert_refuse_stale_fence ON game_participants;
CREATE TRIGGER game_participants_insert_refuse_stale_fence AFTER INSERT ON game_participants
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION game_rows_refuse_stale_fence();
DROP TRIGGER IF EXISTS game_participants_update_refuse_stale_fence ON game_participants;
CREATE TRIGGER game_participants_update_refuse_stale_fence AFTER UPDATE ON game_participants
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION game_rows_refuse_stale_fence();
