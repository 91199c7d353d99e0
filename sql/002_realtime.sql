-- Real-time games: the tick an input was applied at, and how many ticks a game ran.
-- Checkpoint rows (source 'checkpoint', seat 0, action null) carry a state hash every second.
ALTER TABLE game_inputs ADD COLUMN tick bigint;
ALTER TABLE game_inputs ALTER COLUMN action DROP NOT NULL;
ALTER TABLE games ADD COLUMN tick_rate integer NOT NULL DEFAULT 0;
ALTER TABLE games ADD COLUMN ticks bigint;
