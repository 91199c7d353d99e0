/* fuzz.h - what the libFuzzer harnesses share: a failed property aborts with a message, so
 * libFuzzer saves the input as a crash (a sanitizer report does the same by itself). */
#ifndef MT_FUZZ_H
#define MT_FUZZ_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property failed: %s\n  ", __FILE__, __LINE__, #cond);          \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static inline int fuzz_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path) < 0 ? -1 : 0;
}

/* Removes a scratch directory and what is in it (symlinks, not their targets). */
static inline void fuzz_rmtree(const char *dir)
{
    nftw(dir, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
