-- Accounts, stats and ratings shared by every server on this database.
--
-- A finished game's result is a row of game_results, written once (its id is the key, and the
-- server's write queue sends a row again after an outage: ON CONFLICT DO NOTHING skips it).
-- The trigger below applies each inserted result to the players' stats and ratings in the
-- inserting transaction, relative to what the rows hold then: two servers finishing games of
-- one player at the same moment both count, and a result sent twice counts once. The servers
-- never write stats or rating themselves any more.
CREATE TABLE game_results (
    id         uuid PRIMARY KEY,               -- the game's id: a game settles once
    players    jsonb NOT NULL,                 -- [seat 1's player id, seat 2's, ...]
    winner     integer NOT NULL,               -- the winning seat, 0 for none
    draw       boolean NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Elo as the server computes it (src/account/accounts.c): K = 32, or 32 / (seats - 1) with
-- more than two seats; every pair of seats in seat order, each pair seeing the ratings the
-- pairs before it left; one player in two seats is not rated against itself.
CREATE FUNCTION game_results_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    g      record;
    ids    uuid[];
    slot   int[];  -- slot[i]: the first seat of seat i's player (one rating per player)
    r      float8[];
    n      int;
    k      float8;
    s      float8;
    e      float8;
BEGIN
    -- Every player of this statement's results, locked in one pass in id order: two servers
    -- writing results of the same players wait for each other rather than deadlock.
    PERFORM 1 FROM players
     WHERE id IN (SELECT x::uuid FROM new_results nr, jsonb_array_elements_text(nr.players) AS x)
     ORDER BY id FOR UPDATE;
    FOR g IN SELECT * FROM new_results ORDER BY created_at, id LOOP
        ids := ARRAY(SELECT x::uuid FROM jsonb_array_elements_text(g.players) WITH ORDINALITY AS a(x, i)
                     ORDER BY i);
        n := coalesce(array_length(ids, 1), 0);
        FOR i IN 1..n LOOP
            UPDATE players SET stats = stats || jsonb_build_object(
                'games',  coalesce((stats->>'games')::bigint, 0) + 1,
                'wins',   coalesce((stats->>'wins')::bigint, 0)
                          + CASE WHEN NOT g.draw AND g.winner = i THEN 1 ELSE 0 END,
                'losses', coalesce((stats->>'losses')::bigint, 0)
                          + CASE WHEN NOT g.draw AND g.winner <> 0 AND g.winner <> i THEN 1 ELSE 0 END,
                'draws',  coalesce((stats->>'draws')::bigint, 0) + CASE WHEN g.draw THEN 1 ELSE 0 END)
             WHERE id = ids[i];
        END LOOP;
        CONTINUE WHEN NOT g.draw AND g.winner = 0;
        slot := ARRAY(SELECT array_position(ids, x) FROM unnest(ids) WITH ORDINALITY AS a(x, i) ORDER BY i);
        r := ARRAY(SELECT coalesce((SELECT p.rating FROM players p WHERE p.id = x), 1200)
                     FROM unnest(ids) WITH ORDINALITY AS a(x, i) ORDER BY i);
        k := CASE WHEN n > 2 THEN 32.0 / (n - 1) ELSE 32.0 END;
        FOR i IN 1..n LOOP
            FOR j IN i + 1..n LOOP
                CONTINUE WHEN slot[i] = slot[j];
                IF g.draw THEN s := 0.5;
                ELSIF g.winner = i THEN s := 1.0;
                ELSIF g.winner = j THEN s := 0.0;
                ELSE CONTINUE;
                END IF;
                e := 1.0 / (1.0 + power(10.0, (r[slot[j]] - r[slot[i]]) / 400.0));
                r[slot[i]] := r[slot[i]] + k * (s - e);
                r[slot[j]] := r[slot[j]] - k * (s - e);
            END LOOP;
        END LOOP;
        FOR i IN 1..n LOOP
            CONTINUE WHEN slot[i] <> i;
            UPDATE players SET rating = r[i] WHERE id = ids[i];
        END LOOP;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER game_results_apply AFTER INSERT ON game_results
    REFERENCING NEW TABLE AS new_results FOR EACH STATEMENT EXECUTE FUNCTION game_results_apply();
