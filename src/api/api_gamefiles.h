/* api_gamefiles.h - what a game folder ships for the browser, for games the catalog accepted:
 *
 *   GET /games/:name/web/:file   games/<name>/web/<file>: the game's view module (view.js) and
 *                                what it loads (other .js, .css, images); one level, no folders
 *   GET /games/:name/rules.md    games/<name>/rules.md: the rules, as Markdown
 *
 * :name must be a game that is current in the catalog (scripts_game(): never loaded, refused or
 * removed games answer 404, so a folder that failed validation serves nothing). :file is
 * [A-Za-z0-9_-] then [A-Za-z0-9._-], at most 63 characters, with a content type api_static
 * knows. A file is served only when its real path (after symlinks) lies inside that folder,
 * and only up to API_GAMEFILES_MAX bytes. Everything else, the traversal attempts included,
 * answers 404 NOT_FOUND. Answers carry what api_static's carry (type by extension, ETag, gzip,
 * no-sniff). Loop thread only. */
#ifndef MT_API_GAMEFILES_H
#define MT_API_GAMEFILES_H

#define API_GAMEFILES_MAX (512 * 1024)

/* Registers the two routes for games_dir (the --games folder). Returns 0, or -1 when the route
 * table is full. A games_dir that cannot be resolved serves nothing (404s). Call after
 * api_static_init(). */
int api_gamefiles_init(const char *games_dir);

#endif
