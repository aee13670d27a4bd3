/* layout/names.h */
#include "layout/names.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "layout/error.h"

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_lower_hex(char c)
{
    return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9');
}

/* One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*. Returns the offset
 * of the first character that breaks the grammar, or `length` when valid. */
static size_t component_check(const char *text, size_t length)
{
    size_t i = 0;
    for (;;) {
        size_t start = i;
        while (i < length && is_lower_alnum(text[i]))
            i++;
        if (i == start)
            return i; /* empty run: leading, trailing or doubled separator */
        if (i == length)
            return length;
        size_t separator = i;
        if (text[i] == '.')
            i++;
        else if (text[i] == '_')
            i += (i + 1 < length && text[i + 1] == '_') ? 2 : 1;
        else if (text[i] == '-')
            while (i < length && text[i] == '-')
                i++;
        else
            return i;
        if (i == length)
            return separator;
    }
}

int repository_name_validate(const char *name, size_t length)
{
    if (name == NULL || length == 0)
        return error_set(-EINVAL, "repository name is empty");
    if (length > REPOSITORY_NAME_MAX)
        return error_set(-EINVAL, "repository name is longer than %d characters",
                         REPOSITORY_NAME_MAX);
    size_t start = 0;
    while (start <= length) {
        const char *slash = memchr(name + start, '/', length - start);
        size_t end = slash ? (size_t)(slash - name) : length;
        size_t bad = component_check(name + start, end - start);
        if (end == start || bad != end - start)
            return error_set(-EINVAL,
                             "invalid repository name: character %zu breaks the grammar "
                             "[a-z0-9]+((.|_|__|-+)[a-z0-9]+)*(/...)*",
                             start + bad);
        start = end + 1;
    }
    return 0;
}

int tag_validate(const char *tag, size_t length)
{
    if (tag == NULL || length == 0)
        return error_set(-EINVAL, "tag is empty");
    if (length > TAG_MAX)
        return error_set(-EINVAL, "tag is longer than %d characters", TAG_MAX);
    for (size_t i = 0; i < length; i++) {
        char c = tag[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || (i > 0 && (c == '.' || c == '-'));
        if (!ok)
            return error_set(
                -EINVAL, "invalid tag: character %zu breaks [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}", i);
    }
    return 0;
}

int upload_id_validate(const char *id, size_t length)
{
    if (id == NULL || length != UPLOAD_ID_LENGTH)
        return error_set(-EINVAL, "invalid upload id: not a %d-character UUID", UPLOAD_ID_LENGTH);
    for (size_t i = 0; i < length; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? id[i] != '-' : !is_lower_hex(id[i]))
            return error_set(-EINVAL, "invalid upload id: character %zu is wrong for a UUID", i);
    }
    return 0;
}

int upload_id_generate(char out[UPLOAD_ID_LENGTH + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char random[16];
    for (size_t filled = 0; filled < sizeof random;) {
        ssize_t n = getrandom(random + filled, sizeof random - filled, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set(-errno, "getrandom: %s", strerror(errno));
        filled += (size_t)n;
    }
    random[6] = (unsigned char)((random[6] & 0x0f) | 0x40); /* version 4 */
    random[8] = (unsigned char)((random[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char *cursor = out;
    for (size_t i = 0; i < sizeof random; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *cursor++ = '-';
        *cursor++ = hex[random[i] >> 4];
        *cursor++ = hex[random[i] & 15];
    }
    *cursor = '\0';
    return 0;
}

enum reference_kind reference_kind(const char *reference, size_t length)
{
    return memchr(reference, ':', length) != NULL ? REFERENCE_DIGEST : REFERENCE_TAG;
}
