#include "wsbuf.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

struct wsbuf *wsbuf_new(const char *text, size_t len)
{
    struct wsbuf *b = malloc(sizeof *b + LWS_PRE + len);
    if (!b) return NULL;
    b->refs = 1;
    b->len = len;
    b->data = (unsigned char *)(b + 1) + LWS_PRE;
    memcpy(b->data, text, len);
    return b;
}

void wsbuf_ref(struct wsbuf *b)
{
    b->refs++;
}

void wsbuf_unref(struct wsbuf *b)
{
    if (b && --b->refs == 0) free(b);
}
