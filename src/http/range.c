/* src/http/range.h */
#include "src/http/range.h"

#include <stdlib.h>
#include <string.h>

#include "layout/error.h"
#include "src/registry/registry_error.h"

int range_parse(const char *header, size_t length, int64_t size, int64_t *first, int64_t *last)
{
    char text[128];
    if (header == NULL || length >= sizeof text)
        return 0;
    memcpy(text, header, length);
    text[length] = '\0';
    if (strncmp(text, "bytes=", 6) != 0 || strchr(text, ',') != NULL)
        return 0;
    const char *spec = text + 6, *dash = strchr(spec, '-');
    if (dash == NULL)
        return 0;
    char *end;
    if (dash == spec) { /* suffix: the last N bytes */
        if (dash[1] < '0' || dash[1] > '9')
            return 0;
        long long suffix = strtoll(dash + 1, &end, 10);
        if (*end != '\0')
            return 0;
        if (suffix == 0 || size == 0)
            return -1;
        *first = suffix >= size ? 0 : size - suffix;
        *last = size - 1;
        return 1;
    }
    if (spec[0] < '0' || spec[0] > '9')
        return 0;
    long long start = strtoll(spec, &end, 10);
    if (end != dash)
        return 0;
    long long stop = size - 1;
    if (dash[1] != '\0') {
        if (dash[1] < '0' || dash[1] > '9')
            return 0;
        stop = strtoll(dash + 1, &end, 10);
        if (*end != '\0' || stop < start)
            return 0;
    }
    if (start >= size)
        return -1;
    *first = start;
    *last = stop >= size ? size - 1 : stop;
    return 1;
}

int content_range_parse(const char *header, size_t length, size_t body_length, int64_t *start_out)
{
    char text[64];
    if (length >= sizeof text)
        return error_set(-REGISTRY_ERROR_BLOB_UPLOAD_INVALID, "Content-Range too long");
    memcpy(text, header, length);
    text[length] = '\0';
    const char *cursor = strncmp(text, "bytes ", 6) == 0 ? text + 6 : text;
    char *end;
    if (*cursor < '0' || *cursor > '9')
        return error_set(-REGISTRY_ERROR_BLOB_UPLOAD_INVALID, "malformed Content-Range");
    long long start = strtoll(cursor, &end, 10);
    if (*end != '-' || end[1] < '0' || end[1] > '9')
        return error_set(-REGISTRY_ERROR_BLOB_UPLOAD_INVALID, "malformed Content-Range");
    long long last = strtoll(end + 1, &end, 10);
    if ((*end != '\0' && *end != '/') || last < start - 1)
        return error_set(-REGISTRY_ERROR_BLOB_UPLOAD_INVALID, "malformed Content-Range");
    /* Both are 0..LLONG_MAX (strtoll clamps): the count fits unsigned. */
    unsigned long long covered = (unsigned long long)last - (unsigned long long)start + 1;
    if (covered != body_length)
        return error_set(-REGISTRY_ERROR_RANGE_INVALID,
                         "Content-Range covers %llu bytes but the body has %zu", covered,
                         body_length);
    *start_out = start;
    return 0;
}
