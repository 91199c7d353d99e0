/* lua_compile.h - the one place Lua text becomes the bytecode that states load.
 *
 * Every file is compiled once, when it is read (the trusted Lua at start-up, a script version
 * when the catalog takes it in), and every state loads the bytecode: parsing text was the
 * largest cost of starting a room. Bytecode made here, by this very LuaJIT, is the only
 * bytecode any state loads; a script's own text may never be bytecode. */
#ifndef MT_LUA_COMPILE_H
#define MT_LUA_COMPILE_H

#include <stddef.h>

/* Compiles text[0..len) under chunkname (e.g. "=lua/sandbox.lua"). Returns 0 with *bc (malloc'd,
 * the caller frees it) and *bclen; -1 with err, LuaJIT's message (it names the line) when the
 * text does not parse, or "out of memory". */
int lua_compile(const char *text, size_t len, const char *chunkname, char **bc, size_t *bclen,
                char *err, size_t errlen);

/* Compiles an untrusted script (a game's or agent's file, or a lua/lib helper scripts require)
 * with the CPU check compiled in (lua_instrument.h). The text is compiled as written first, so
 * a syntax error is returned (-1) exactly as LuaJIT reports it. A script that names the
 * reserved prefix compiles (0) to a chunk that raises "<file>:<line>: names beginning with
 * __mt_ are reserved" when it is run, so it is refused when it loads, like any other load
 * error, with its file and line. chunkname starts with '@'. Loading the result: see
 * sandbox.load_text in lua/sandbox.lua. */
int lua_compile_script(const char *text, size_t len, const char *chunkname, char **bc,
                       size_t *bclen, char *err, size_t errlen);

#endif
