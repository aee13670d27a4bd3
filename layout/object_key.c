/* layout/object_key.h */
#include "layout/object_key.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "layout/error.h"

#define TREE_SUFFIX "docker/registry/v2/blobs/"
/* "sha512/" + 2 + "/" + 128 + "/data" */
#define LONGEST_BLOB_KEY (sizeof TREE_SUFFIX - 1 + 7 + 3 + 128 + 5)

int object_key_prefix_normalize(const char *root_directory, char out[OBJECT_KEY_MAX])
{
    out[0] = '\0';
    if (root_directory == NULL)
        return 0;
    const char *start = root_directory;
    while (*start == '/')
        start++;
    size_t length = strlen(start);
    while (length > 0 && start[length - 1] == '/')
        length--;
    if (length + 1 + LONGEST_BLOB_KEY >= OBJECT_KEY_MAX)
        return error_set(-ENAMETOOLONG, "rootdirectory is longer than %zu bytes",
                         (size_t)(OBJECT_KEY_MAX - 2 - LONGEST_BLOB_KEY));
    if (length == 0)
        return 0;
    size_t segment_start = 0;
    for (size_t i = 0; i <= length; i++) {
        char c = i < length ? start[i] : '/';
        if (c == '/') {
            size_t segment_length = i - segment_start;
            const char *segment = start + segment_start;
            if (segment_length == 0 || (segment_length == 1 && segment[0] == '.') ||
                (segment_length == 2 && segment[0] == '.' && segment[1] == '.'))
                return error_set(-EINVAL,
                                 "rootdirectory %.200s has an empty, \".\" or \"..\" segment",
                                 root_directory);
            segment_start = i + 1;
            continue;
        }
        if (c < 0x21 || c > 0x7e || c == '\\' || c == '?' || c == '#')
            return error_set(-EINVAL,
                             "rootdirectory may hold printable ASCII without spaces, '\\', '?' "
                             "or '#' only");
    }
    memcpy(out, start, length);
    out[length] = '\0';
    return 0;
}

static int key_format(char out[OBJECT_KEY_MAX], const char *prefix, const char *rest,
                      const char *algorithm, const char *hex)
{
    int length;
    if (algorithm == NULL)
        length = snprintf(out, OBJECT_KEY_MAX, "%s%s%s", prefix, prefix[0] ? "/" : "", rest);
    else
        length = snprintf(out, OBJECT_KEY_MAX, "%s%s%s%s/%.2s/%s/data", prefix,
                          prefix[0] ? "/" : "", rest, algorithm, hex, hex);
    if (length < 0 || length >= OBJECT_KEY_MAX) {
        out[0] = '\0';
        return error_set(-ENAMETOOLONG, "object key longer than %d bytes", OBJECT_KEY_MAX - 1);
    }
    return 0;
}

int object_key_blobs_prefix(const char *prefix, char out[OBJECT_KEY_MAX])
{
    return key_format(out, prefix, TREE_SUFFIX, NULL, NULL);
}

int object_key_blob_data(const char *prefix, const struct digest *digest, char out[OBJECT_KEY_MAX])
{
    return key_format(out, prefix, TREE_SUFFIX, digest_algorithm_name(digest->algorithm),
                      digest_hex(digest));
}

int object_key_clock_probe(const char *prefix, const char *tag, char out[OBJECT_KEY_MAX])
{
    if (tag == NULL || tag[0] == '\0' ||
        strspn(tag, "0123456789abcdefghijklmnopqrstuvwxyz-") != strlen(tag))
        return error_set(-EINVAL, "a clock probe tag may hold [0-9a-z-] only");
    int length = snprintf(out, OBJECT_KEY_MAX, "%s%sdocker/registry/v2/.cairn-clock-%s", prefix,
                          prefix[0] ? "/" : "", tag);
    if (length < 0 || length >= OBJECT_KEY_MAX) {
        out[0] = '\0';
        return error_set(-ENAMETOOLONG, "object key longer than %d bytes", OBJECT_KEY_MAX - 1);
    }
    return 0;
}

int object_key_parse_blob_data(const char *prefix, const char *key, struct digest *out)
{
    char blobs[OBJECT_KEY_MAX];
    int result = object_key_blobs_prefix(prefix, blobs);
    if (result < 0)
        return result;
    size_t blobs_length = strlen(blobs);
    if (strncmp(key, blobs, blobs_length) != 0)
        return error_set(-EINVAL, "%.200s is not under %s", key, blobs);
    /* <alg>/<xx>/<hex>/data */
    const char *rest = key + blobs_length, *slash = strchr(rest, '/');
    if (slash == NULL)
        return error_set(-EINVAL, "%.200s is not a blob key", key);
    size_t algorithm_length = (size_t)(slash - rest);
    const char *fan_out = slash + 1, *hex = fan_out + 3;
    if (strlen(fan_out) < 3 || fan_out[2] != '/')
        return error_set(-EINVAL, "%.200s is not a blob key", key);
    const char *hex_end = strchr(hex, '/');
    if (hex_end == NULL || strcmp(hex_end, "/data") != 0)
        return error_set(-EINVAL, "%.200s is not a blob data key", key);
    size_t hex_length = (size_t)(hex_end - hex);
    char text[DIGEST_STRING_MAX + 8];
    if (algorithm_length + 1 + hex_length >= sizeof text)
        return error_set(-EINVAL, "%.200s is not a blob key", key);
    memcpy(text, rest, algorithm_length);
    text[algorithm_length] = ':';
    memcpy(text + algorithm_length + 1, hex, hex_length);
    size_t text_length = algorithm_length + 1 + hex_length;
    text[text_length] = '\0';
    struct digest digest;
    if (digest_parse(text, text_length, &digest) < 0 || hex_length < 2 ||
        memcmp(fan_out, hex, 2) != 0)
        return error_set(-EINVAL, "%.200s is not a valid blob key", key);
    *out = digest;
    return 0;
}
