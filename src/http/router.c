/* src/http/router.h */
#include "src/http/router.h"

#include <errno.h>
#include <string.h>

#include "layout/error.h"
#include "src/registry/registry_error.h"

#define SEGMENTS_MAX 200

struct segment {
    const char *start;
    size_t length;
};

static int segment_is(const struct segment *segment, const char *text)
{
    size_t length = strlen(text);
    return segment->length == length && memcmp(segment->start, text, length) == 0;
}

static int set_name(struct route *route, const char *start, const char *end)
{
    if (end <= start)
        return error_set(-REGISTRY_ERROR_NAME_INVALID, "repository name is empty");
    size_t length = (size_t)(end - start);
    if (length == 0)
        return error_set(-REGISTRY_ERROR_NAME_INVALID, "repository name is empty");
    if (length > REPOSITORY_NAME_MAX)
        return error_set(-REGISTRY_ERROR_NAME_INVALID, "repository name longer than %d",
                         REPOSITORY_NAME_MAX);
    if (repository_name_validate(start, length) < 0)
        return -REGISTRY_ERROR_NAME_INVALID;
    memcpy(route->name, start, length);
    route->name[length] = '\0';
    return 0;
}

static void set_reference(struct route *route, const struct segment *segment)
{
    route->reference_is_digest =
        reference_kind(segment->start, segment->length) == REFERENCE_DIGEST;
    if (segment->length >= ROUTE_REFERENCE_MAX) {
        route->reference_too_long = 1;
        route->reference[0] = '\0';
        route->reference_length = 0;
        return;
    }
    memcpy(route->reference, segment->start, segment->length);
    route->reference[segment->length] = '\0';
    route->reference_length = segment->length;
}

int route_parse(const char *path, size_t length, struct route *out)
{
    memset(out, 0, sizeof *out);
    if (length < 3 || memcmp(path, "/v2", 3) != 0)
        return error_set(-REGISTRY_ERROR_NOT_FOUND, "not a v2 API path");
    if (length == 3 || (length == 4 && path[3] == '/')) {
        out->kind = ROUTE_BASE;
        return 0;
    }
    if (path[3] != '/')
        return error_set(-REGISTRY_ERROR_NOT_FOUND, "not a v2 API path");
    const char *rest = path + 4, *end = path + length;
    if ((size_t)(end - rest) == 8 && memcmp(rest, "_catalog", 8) == 0) {
        out->kind = ROUTE_CATALOG;
        return 0;
    }

    struct segment segments[SEGMENTS_MAX];
    size_t count = 0;
    for (const char *cursor = rest;;) {
        const char *slash = memchr(cursor, '/', (size_t)(end - cursor));
        const char *segment_end = slash != NULL ? slash : end;
        if (count == SEGMENTS_MAX)
            return error_set(-REGISTRY_ERROR_NAME_INVALID, "too many path segments");
        segments[count++] = (struct segment){cursor, (size_t)(segment_end - cursor)};
        if (slash == NULL)
            break;
        cursor = slash + 1;
    }

    /* name_end: where the name stops (the '/' before the route keyword) */
    const struct segment *last = &segments[count - 1];
    if (count >= 3 && segment_is(&segments[count - 2], "tags") && segment_is(last, "list")) {
        out->kind = ROUTE_TAGS_LIST;
        return set_name(out, rest, segments[count - 2].start - 1);
    }
    if (count >= 4 && segment_is(&segments[count - 3], "blobs") &&
        segment_is(&segments[count - 2], "uploads")) {
        out->kind = last->length == 0 ? ROUTE_UPLOAD_START : ROUTE_UPLOAD;
        set_reference(out, last);
        return set_name(out, rest, segments[count - 3].start - 1);
    }
    if (count >= 2) {
        const struct segment *keyword = &segments[count - 2];
        if (segment_is(keyword, "manifests"))
            out->kind = ROUTE_MANIFEST;
        else if (segment_is(keyword, "blobs"))
            out->kind = segment_is(last, "uploads") ? ROUTE_UPLOAD_START : ROUTE_BLOB;
        else if (segment_is(keyword, "referrers"))
            out->kind = ROUTE_REFERRERS;
        else
            return error_set(-REGISTRY_ERROR_NOT_FOUND, "no such endpoint");
        if (out->kind != ROUTE_UPLOAD_START) {
            if (last->length == 0)
                return error_set(-REGISTRY_ERROR_NOT_FOUND, "no such endpoint");
            set_reference(out, last);
        }
        return set_name(out, rest, keyword->start - 1);
    }
    return error_set(-REGISTRY_ERROR_NOT_FOUND, "no such endpoint");
}
