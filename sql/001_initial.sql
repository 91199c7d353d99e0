-- Monkeytown schema, version 1. Applied once by the server at start-up (or `monkeytown migrate`)
-- inside a transaction, and recorded in schema_migrations. Timestamps are timestamptz; the
-- server's rows carry milliseconds since the epoch and the PostgreSQL store converts them.

CREATE TABLE players (
    id            uuid PRIMARY KEY,
    username      varchar(32),                 -- NULL for guests and agents
    name          varchar(64) NOT NULL,
    password_hash text,                        -- crypt(3) string: $y$ (yescrypt) or $2b$
    role          varchar(16) NOT NULL DEFAULT 'player' CHECK (role IN ('player', 'admin', 'agent')),
    stats         jsonb NOT NULL DEFAULT '{}', -- {games, wins, losses, draws}
    rating        double precision NOT NULL DEFAULT 1200,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz
);
CREATE UNIQUE INDEX players_username_key ON players (lower(username)) WHERE username IS NOT NULL;

CREATE TABLE script_versions (
    id         varchar(16) PRIMARY KEY,        -- content hash
    kind       varchar(8) NOT NULL CHECK (kind IN ('game', 'agent')),
    name       varchar(64) NOT NULL,
    files      jsonb NOT NULL,                 -- {path: source}: enough to replay a game exactly
    commit     varchar(40),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX script_versions_name ON script_versions (kind, name, created_at);

CREATE TABLE agent_behaviors (
    name        varchar(64) NOT NULL,
    version     varchar(16) NOT NULL,
    title       text NOT NULL,
    personality text NOT NULL,
    commit      varchar(40),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);

CREATE TABLE games (
    id         uuid PRIMARY KEY,
    game       varchar(64) NOT NULL,
    version    varchar(16) NOT NULL,
    config     jsonb,
    status     varchar(16) NOT NULL CHECK (status IN ('waiting', 'active', 'completed', 'aborted')),
    result     jsonb,
    seed       bigint NOT NULL,
    seats      integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    ended_at   timestamptz
);
CREATE INDEX games_status ON games (status);
CREATE INDEX games_game_ended ON games (game, ended_at);

CREATE TABLE game_participants (
    game_id   uuid NOT NULL REFERENCES games (id) ON DELETE CASCADE,
    seat      integer NOT NULL,
    player_id uuid,                            -- NULL for an agent seat
    agent     varchar(64),                     -- the agent's name for an agent seat
    name      varchar(64) NOT NULL,
    score     double precision,
    PRIMARY KEY (game_id, seat)
);
CREATE INDEX game_participants_player ON game_participants (player_id);

CREATE TABLE game_events (
    game_id uuid NOT NULL REFERENCES games (id) ON DELETE CASCADE,
    seq     bigint NOT NULL,
    type    varchar(32) NOT NULL,
    payload jsonb NOT NULL,
    t       bigint NOT NULL,                   -- logical ms since the game started
    PRIMARY KEY (game_id, seq)
);

CREATE TABLE game_inputs (
    game_id    uuid NOT NULL REFERENCES games (id) ON DELETE CASCADE,
    ord        bigint NOT NULL,                -- position in the game's timeline
    seat       integer NOT NULL,
    action     jsonb NOT NULL,
    source     varchar(16) NOT NULL,           -- player, agent, timeout, checkpoint
    t          bigint NOT NULL,
    state_hash varchar(16),                    -- hash of the state after the input (replay check)
    PRIMARY KEY (game_id, ord)
);
