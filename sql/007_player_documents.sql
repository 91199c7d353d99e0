-- Per-player documents that outlive a game (a character sheet): every version a game saved
-- through ctx.save_doc (docs/scripting.md, "Documents"), kept with its author and note.
--
-- A version is written once (its key is (player_id, game, version); the server's write queue
-- may send a row again after an outage: ON CONFLICT DO NOTHING skips it). Versions count from 1
-- per player and game name. The trigger below keeps the newest 50 of each (player, game) and
-- deletes older ones, as the server forgets them (src/game/documents.h).
--
-- game_participants.doc_version is the version of the seat's document the game started from
-- (0: the player had none; NULL: an agent's seat, a game not started, or one from before this
-- migration): a replay and a restarted room hand the game the same documents.
CREATE TABLE player_documents (
    player_id  uuid NOT NULL,                  -- no foreign key: guests' rows come and go
    game       varchar(64) NOT NULL,           -- the game's name (games.game)
    version    integer NOT NULL,
    author     varchar(8) NOT NULL CHECK (author IN ('rules', 'player', 'gm')),
    author_id  uuid,                           -- the editing player ('player', 'gm')
    note       text NOT NULL DEFAULT '',
    doc        jsonb NOT NULL,
    game_id    uuid,                           -- the game that saved it
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (player_id, game, version)
);

ALTER TABLE game_participants ADD COLUMN doc_version integer;

CREATE FUNCTION player_documents_prune() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM player_documents d
     USING (SELECT DISTINCT player_id, game FROM new_rows) k
     WHERE d.player_id = k.player_id AND d.game = k.game
       AND d.version <= (SELECT max(version) FROM player_documents m
                          WHERE m.player_id = k.player_id AND m.game = k.game) - 50;
    RETURN NULL;
END
$$;

CREATE TRIGGER player_documents_prune AFTER INSERT ON player_documents
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION player_documents_prune();
