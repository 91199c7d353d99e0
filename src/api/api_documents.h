/* api_documents.h - the HTTP endpoints of per-player documents (documents.h):
 *
 *   GET /api/players/:id/documents/:game           the kept versions, newest first:
 *                                                  [{version, author, authorId, note,
 *                                                    createdAt, gameId}]          (Bearer)
 *   GET /api/players/:id/documents/:game/:version  one version, with its doc      (Bearer)
 *
 * Only the player themself and admins may read them (401 without a valid token, 403 for
 * anyone else): a document may hold what the player's seat alone sees in a game. */
#ifndef MT_API_DOCUMENTS_H
#define MT_API_DOCUMENTS_H

int api_documents_init(void);

#endif
