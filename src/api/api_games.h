/* api_games.h - the game HTTP endpoints: catalog, agents, rooms and their logs.
 *
 *   GET  /api/games              the catalog of games (with versions and refusals)
 *   GET  /api/agents             the agents (with personalities and versions)
 *   POST /api/games/create       {game, config?, vsAgent?, private?} -> {gameId}   (Bearer)
 *   POST /api/games/:id/join     -> {success: true}                                 (Bearer)
 *   GET  /api/games/:id          summary: game, status, players, result
 *   GET  /api/games/:id/events   the whole log with inputs, seed and version; public once the
 *                                game is over, admin-only while it runs (hidden information)
 *   GET  /api/rooms              open public rooms (the lobby) */
#ifndef MT_API_GAMES_H
#define MT_API_GAMES_H

/* Registers the routes above. Returns 0, or non-zero when the route table is full. */
int api_games_init(void);

#endif
