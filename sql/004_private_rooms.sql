-- A private room (create_game {private: true}) stays out of the lobby; a room rebuilt after a
-- restart must know it.
ALTER TABLE games ADD COLUMN private boolean NOT NULL DEFAULT false;
