/* src/http/query.h */
#include "src/http/query.h"

#include <errno.h>
#include <string.h>

#include "layout/error.h"

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int decode(const char *text, size_t length, char *out, size_t out_size)
{
    size_t written = 0;
    for (size_t i = 0; i < length; i++) {
        char c = text[i];
        if (c == '%') {
            if (i + 2 >= length)
                return error_set(-EINVAL, "truncated percent escape in query");
            int high = hex_value(text[i + 1]), low = hex_value(text[i + 2]);
            if (high < 0 || low < 0)
                return error_set(-EINVAL, "bad percent escape in query");
            c = (char)(high * 16 + low);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == '\0')
            return error_set(-EINVAL, "NUL byte in query");
        if (written + 1 >= out_size)
            return error_set(-EINVAL, "query value too long");
        out[written++] = c;
    }
    out[written] = '\0';
    return 0;
}

int query_get(const char *query, size_t query_length, const char *key, char *out, size_t out_size)
{
    size_t key_length = strlen(key);
    const char *end = query + query_length;
    const char *cursor = query;
    while (cursor < end) {
        const char *ampersand = memchr(cursor, '&', (size_t)(end - cursor));
        const char *pair_end = ampersand != NULL ? ampersand : end;
        const char *equals = memchr(cursor, '=', (size_t)(pair_end - cursor));
        const char *name_end = equals != NULL ? equals : pair_end;
        if ((size_t)(name_end - cursor) == key_length && memcmp(cursor, key, key_length) == 0) {
            const char *value = equals != NULL ? equals + 1 : pair_end;
            int result = decode(value, (size_t)(pair_end - value), out, out_size);
            return result < 0 ? result : 1;
        }
        cursor = pair_end + 1;
    }
    return 0;
}

int query_encode(const char *text, char *out, size_t out_size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t written = 0;
    for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++) {
        int plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                    (*c >= '0' && *c <= '9') || strchr("-._~:/", *c) != NULL;
        size_t needed = plain ? 1 : 3;
        if (written + needed >= out_size)
            return error_set(-ENAMETOOLONG, "value too long to encode");
        if (plain) {
            out[written++] = (char)*c;
        } else {
            out[written++] = '%';
            out[written++] = hex[*c >> 4];
            out[written++] = hex[*c & 15];
        }
    }
    out[written] = '\0';
    return (int)written;
}
