-- The process that owns a game in a cluster (--cluster): "<instance id> <lease token>", written
-- with each new fence (src/store/store_pg.c, pg_set_fence). Redis's room directory is the
-- authority on owners; this copy is for the one case it cannot answer: a Redis that lost its
-- data lost the entries of the rooms whose owner died before claiming them again, and a live
-- instance adopts such a game only when this owner's lease is gone (src/cluster/directory.c,
-- ADOPT_LUA). NULL on a single server, and for rows from before this migration.
ALTER TABLE games ADD COLUMN owner text;
