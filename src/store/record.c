#include "record.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

size_t record_size(const char *table, size_t rowlen)
{
    return 9 + 6 + strlen(table) + 6 + rowlen + 1 + 1;
}

size_t record_write(char *out, const char *table, const char *row, size_t rowlen)
{
    static const char hex[] = "0123456789abcdef";
    size_t tlen = strlen(table), len = 6 + tlen + 6 + rowlen + 1;
    char *text = out + 9;
    memcpy(text, "{\"t\":\"", 6);
    memcpy(text + 6, table, tlen);
    memcpy(text + 6 + tlen, "\",\"r\":", 6);
    memcpy(text + 12 + tlen, row, rowlen);
    text[len - 1] = '}';
    uLong crc = crc32(0L, (const Bytef *)text, (uInt)len);
    for (int i = 7; i >= 0; i--, crc >>= 4)
        out[i] = hex[crc & 15];
    out[8] = ' ';
    text[len] = '\n';
    return 9 + len + 1;
}

json_t *record_parse(const char *line, size_t len)
{
    if (len < 10 || line[8] != ' ') return NULL;
    char hex[9];
    memcpy(hex, line, 8);
    hex[8] = '\0';
    char *end;
    unsigned long want = strtoul(hex, &end, 16);
    if (*end) return NULL;
    if (crc32(0L, (const Bytef *)line + 9, (uInt)(len - 9)) != want) return NULL;
    json_t *rec = json_loadb(line + 9, len - 9, 0, NULL);
    if (rec && (!json_is_string(json_object_get(rec, "t")) ||
                !json_is_object(json_object_get(rec, "r")))) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}
