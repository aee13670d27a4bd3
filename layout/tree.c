/* layout/tree.h */
#include "layout/tree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "layout/atomic_file.h"
#include "layout/error.h"
#include "layout/names.h"

/* The longest suffix any builder appends to T: a referrer link of a
 * 255-character name with two sha512 digests. */
#define LONGEST_SUFFIX                                                                             \
    (sizeof "/repositories/" - 1 + REPOSITORY_NAME_MAX + sizeof "/_manifests/referrers/sha512/" -  \
     1 + 128 + sizeof "/sha512/" - 1 + 128 + sizeof "/link" - 1)

/* The one path builder: vsnprintf at out + used, refusing what does not fit. */
static int path_append(char out[TREE_PATH_MAX], size_t used, const char *format, va_list arguments)
    __attribute__((format(printf, 3, 0)));

static int path_too_long(char out[TREE_PATH_MAX])
{
    out[0] = '\0';
    return error_set(-ENAMETOOLONG, "path longer than %d bytes", TREE_PATH_MAX - 1);
}

/* Formats made of text and plain %s only (all but two here) are copied by
 * hand: vsnprintf was a few per cent of a manifest GET's CPU. Any other
 * conversion goes to vsnprintf, from the start of the format. */
static int path_append_strings(char out[TREE_PATH_MAX], size_t used, const char *format,
                               va_list arguments)
{
    for (const char *p = format; *p != '\0'; p++)
        if (*p == '%' && p[1] != 's')
            return 1;
    char *end = out + TREE_PATH_MAX - 1;
    char *at = out + used;
    for (const char *p = format; *p != '\0'; p++) {
        const char *text = p;
        size_t length = 1;
        if (*p == '%') {
            text = va_arg(arguments, const char *);
            length = strlen(text);
            p++;
        }
        if (length > (size_t)(end - at))
            return path_too_long(out);
        memcpy(at, text, length);
        at += length;
    }
    *at = '\0';
    return 0;
}

static int path_append(char out[TREE_PATH_MAX], size_t used, const char *format, va_list arguments)
{
    va_list copy;
    va_copy(copy, arguments);
    int result = path_append_strings(out, used, format, copy);
    va_end(copy);
    if (result <= 0)
        return result;
    int length = vsnprintf(out + used, TREE_PATH_MAX - used, format, arguments);
    if (length < 0 || (size_t)length >= TREE_PATH_MAX - used)
        return path_too_long(out);
    return 0;
}

static int path_format(char out[TREE_PATH_MAX], const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static int path_format(char out[TREE_PATH_MAX], const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    int result = path_append(out, 0, format, arguments);
    va_end(arguments);
    return result;
}

static int check_name(const char *name)
{
    return repository_name_validate(name, name ? strlen(name) : 0);
}

static int check_tag(const char *tag)
{
    return tag_validate(tag, tag ? strlen(tag) : 0);
}

static int check_upload_id(const char *id)
{
    return upload_id_validate(id, id ? strlen(id) : 0);
}

/* T/repositories/<name> followed by `format`, with the name validated. */
static int repository_path(const struct tree *tree, const char *name, char out[TREE_PATH_MAX],
                           const char *format, ...) __attribute__((format(printf, 4, 5)));

static int repository_path(const struct tree *tree, const char *name, char out[TREE_PATH_MAX],
                           const char *format, ...)
{
    int result = check_name(name);
    if (result < 0 || (result = path_format(out, "%s/repositories/%s", tree->root, name)) < 0)
        return result;
    va_list arguments;
    va_start(arguments, format);
    result = path_append(out, strlen(out), format, arguments);
    va_end(arguments);
    return result;
}

int tree_open(struct tree *tree, const char *root_directory, int create)
{
    size_t length = root_directory ? strlen(root_directory) : 0;
    if (length == 0)
        return error_set(-EINVAL, "root directory is empty");
    while (length > 1 && root_directory[length - 1] == '/')
        length--;
    if (length + sizeof "/docker/registry/v2" - 1 + LONGEST_SUFFIX >= TREE_PATH_MAX)
        return error_set(-ENAMETOOLONG, "root directory \"%.64s...\" is too long", root_directory);
    memcpy(tree->root_directory, root_directory, length);
    tree->root_directory[length] = '\0';
    const char *base = strcmp(tree->root_directory, "/") == 0 ? "" : tree->root_directory;
    int result = path_format(tree->root, "%s/docker/registry/v2", base);
    if (result < 0)
        return result;
    tree->root_length = strlen(tree->root);
    if (!create)
        return 0;
    char path[TREE_PATH_MAX];
    if ((result = tree_path_blobs(tree, path)) < 0 || (result = directory_create(path)) < 0 ||
        (result = tree_path_repositories(tree, path)) < 0 ||
        (result = directory_create(path)) < 0 ||
        (result = tree_path_scratch_directory(tree, path)) < 0 ||
        (result = directory_create(path)) < 0)
        return result;
    return 0;
}

int tree_path_blobs(const struct tree *tree, char out[TREE_PATH_MAX])
{
    return path_format(out, "%s/blobs", tree->root);
}

int tree_path_blob_directory(const struct tree *tree, const struct digest *digest,
                             char out[TREE_PATH_MAX])
{
    const char *hex = digest_hex(digest);
    return path_format(out, "%s/blobs/%s/%.2s/%s", tree->root,
                       digest_algorithm_name(digest->algorithm), hex, hex);
}

int tree_path_blob_data(const struct tree *tree, const struct digest *digest,
                        char out[TREE_PATH_MAX])
{
    const char *hex = digest_hex(digest);
    return path_format(out, "%s/blobs/%s/%.2s/%s/data", tree->root,
                       digest_algorithm_name(digest->algorithm), hex, hex);
}

int tree_path_repositories(const struct tree *tree, char out[TREE_PATH_MAX])
{
    return path_format(out, "%s/repositories", tree->root);
}

int tree_path_repository(const struct tree *tree, const char *name, char out[TREE_PATH_MAX])
{
    int result = check_name(name);
    return result < 0 ? result : path_format(out, "%s/repositories/%s", tree->root, name);
}

int tree_path_manifests_directory(const struct tree *tree, const char *name,
                                  char out[TREE_PATH_MAX])
{
    return repository_path(tree, name, out, "/_manifests");
}

int tree_path_layers_directory(const struct tree *tree, const char *name, char out[TREE_PATH_MAX])
{
    return repository_path(tree, name, out, "/_layers");
}

int tree_path_layer_link(const struct tree *tree, const char *name, const struct digest *digest,
                         char out[TREE_PATH_MAX])
{
    return repository_path(tree, name, out, "/_layers/%s/%s/link",
                           digest_algorithm_name(digest->algorithm), digest_hex(digest));
}

int tree_path_revisions_directory(const struct tree *tree, const char *name,
                                  char out[TREE_PATH_MAX])
{
    return repository_path(tree, name, out, "/_manifests/revisions");
}

int tree_path_revision_directory(const struct tree *tree, const char *name,
                                 const struct digest *digest, char out[TREE_PATH_MAX])
{
    return repository_path(tree, name, out, "/_manifests/revisions/%s/%s",
                           digest_algorithm_name(digest->algorithm), digest_hex(digest));
}

int tree_path_revision_link(const struct tree *tree, const char *name, const struct digest *digest,
                            char out[TREE_PATH_MAX])
{
    return repository_path(tree, name, out, "/_manifests/revisions/%s/%s/link",
                           digest_algorithm_name(digest->algorithm), digest_hex(digest));
}

int tree_path_tags_directory(const struct tree *tree, const char *name, char out[TREE_PATH_MAX])
{
    return repository_path(tree, name, out, "/_manifests/tags");
}

int tree_path_tag_directory(const struct tree *tree, const char *name, const char *tag,
                            char out[TREE_PATH_MAX])
{
    if (check_tag(tag) < 0)
        return -EINVAL;
    return repository_path(tree, name, out, "/_manifests/tags/%s", tag);
}

int tree_path_tag_current_link(const struct tree *tree, const char *name, const char *tag,
                               char out[TREE_PATH_MAX])
{
    if (check_tag(tag) < 0)
        return -EINVAL;
    return repository_path(tree, name, out, "/_manifests/tags/%s/current/link", tag);
}

int tree_path_tag_index_link(const struct tree *tree, const char *name, const char *tag,
                             const struct digest *digest, char out[TREE_PATH_MAX])
{
    if (check_tag(tag) < 0)
        return -EINVAL;
    return repository_path(tree, name, out, "/_manifests/tags/%s/index/%s/%s/link", tag,
                           digest_algorithm_name(digest->algorithm), digest_hex(digest));
}

int tree_path_tag_staging_template(const struct tree *tree, const char *name,
                                   char out[TREE_PATH_MAX])
{
    return repository_path(tree, name, out, "/_manifests/tags/" TREE_TAG_STAGING_PREFIX "XXXXXX");
}

int tree_is_tag_staging(const char *entry)
{
    size_t prefix = sizeof TREE_TAG_STAGING_PREFIX - 1;
    return strncmp(entry, TREE_TAG_STAGING_PREFIX, prefix) == 0 && strlen(entry) == prefix + 6;
}

int tree_path_tag_current_directory_in(const char *tag_directory, char out[TREE_PATH_MAX])
{
    return path_format(out, "%s/current", tag_directory);
}

int tree_path_tag_current_link_in(const char *tag_directory, char out[TREE_PATH_MAX])
{
    return path_format(out, "%s/current/link", tag_directory);
}

int tree_path_tag_index_link_in(const char *tag_directory, const struct digest *digest,
                                char out[TREE_PATH_MAX])
{
    return path_format(out, "%s/index/%s/%s/link", tag_directory,
                       digest_algorithm_name(digest->algorithm), digest_hex(digest));
}

int tree_path_referrers_directory(const struct tree *tree, const char *name,
                                  const struct digest *subject, char out[TREE_PATH_MAX])
{
    return repository_path(tree, name, out, "/_manifests/referrers/%s/%s",
                           digest_algorithm_name(subject->algorithm), digest_hex(subject));
}

int tree_path_referrer_link(const struct tree *tree, const char *name, const struct digest *subject,
                            const struct digest *referrer, char out[TREE_PATH_MAX])
{
    return repository_path(tree, name, out, "/_manifests/referrers/%s/%s/%s/%s/link",
                           digest_algorithm_name(subject->algorithm), digest_hex(subject),
                           digest_algorithm_name(referrer->algorithm), digest_hex(referrer));
}

int tree_path_uploads_directory(const struct tree *tree, const char *name, char out[TREE_PATH_MAX])
{
    return repository_path(tree, name, out, "/_uploads");
}

int tree_path_upload_directory(const struct tree *tree, const char *name, const char *upload_id,
                               char out[TREE_PATH_MAX])
{
    if (check_upload_id(upload_id) < 0)
        return -EINVAL;
    return repository_path(tree, name, out, "/_uploads/%s", upload_id);
}

int tree_path_upload_data(const struct tree *tree, const char *name, const char *upload_id,
                          char out[TREE_PATH_MAX])
{
    if (check_upload_id(upload_id) < 0)
        return -EINVAL;
    return repository_path(tree, name, out, "/_uploads/%s/data", upload_id);
}

int tree_path_upload_started_at(const struct tree *tree, const char *name, const char *upload_id,
                                char out[TREE_PATH_MAX])
{
    if (check_upload_id(upload_id) < 0)
        return -EINVAL;
    return repository_path(tree, name, out, "/_uploads/%s/startedat", upload_id);
}

/* R/<name>: cairn's own files beside the tree. */
static int path_beside_tree(const struct tree *tree, const char *name, char out[TREE_PATH_MAX])
{
    const char *base = strcmp(tree->root_directory, "/") == 0 ? "" : tree->root_directory;
    return path_format(out, "%s/%s", base, name);
}

int tree_path_scratch_directory(const struct tree *tree, char out[TREE_PATH_MAX])
{
    return path_beside_tree(tree, ".cairn-tmp", out);
}

int tree_path_gc_lock(const struct tree *tree, char out[TREE_PATH_MAX])
{
    return path_beside_tree(tree, ".cairn-gc.lock", out);
}

int tree_path_gc_run(const struct tree *tree, char out[TREE_PATH_MAX])
{
    return path_beside_tree(tree, ".cairn-gc-run", out);
}

int tree_path_run_markers(const struct tree *tree, char out[TREE_PATH_MAX])
{
    return path_beside_tree(tree, ".cairn-run", out);
}

int tree_path_event_spool(const struct tree *tree, char out[TREE_PATH_MAX])
{
    return path_beside_tree(tree, "cairn-events", out);
}

int tree_path_quarantine_directory(const struct tree *tree, char out[TREE_PATH_MAX])
{
    return path_beside_tree(tree, ".cairn-quarantine", out);
}

int tree_path_quarantine_algorithm_directory(const struct tree *tree,
                                             enum digest_algorithm algorithm,
                                             char out[TREE_PATH_MAX])
{
    char quarantine[TREE_PATH_MAX];
    int result = tree_path_quarantine_directory(tree, quarantine);
    return result < 0 ? result
                      : path_format(out, "%s/%s", quarantine, digest_algorithm_name(algorithm));
}

static int quarantine_entry(const struct tree *tree, const struct digest *digest, long long seconds,
                            int attempt, const char *suffix, char out[TREE_PATH_MAX])
{
    char directory[TREE_PATH_MAX], name[DIGEST_STRING_MAX + 64];
    int result = tree_path_quarantine_algorithm_directory(tree, digest->algorithm, directory);
    if (result < 0)
        return result;
    if (attempt == 0)
        snprintf(name, sizeof name, "%s.%lld%s", digest_hex(digest), seconds, suffix);
    else
        snprintf(name, sizeof name, "%s.%lld-%d%s", digest_hex(digest), seconds, attempt, suffix);
    return path_format(out, "%s/%s", directory, name);
}

int tree_path_quarantined_blob(const struct tree *tree, const struct digest *digest,
                               long long seconds, int attempt, char out[TREE_PATH_MAX])
{
    return quarantine_entry(tree, digest, seconds, attempt, "", out);
}

int tree_path_quarantine_reason(const struct tree *tree, const struct digest *digest,
                                long long seconds, int attempt, char out[TREE_PATH_MAX])
{
    return quarantine_entry(tree, digest, seconds, attempt, ".reason", out);
}

/* Distribution writes time.Now().UTC().Format(time.RFC3339): whole seconds,
 * "Z", no fraction (registry/storage/linkedblobstore.go, Create). */
void tree_format_started_at(long long seconds, long nanoseconds, char out[40])
{
    (void)nanoseconds;
    time_t time = (time_t)seconds;
    struct tm utc;
    if (gmtime_r(&time, &utc) == NULL) {
        memset(&utc, 0, sizeof utc);
        utc.tm_year = 70;
        utc.tm_mday = 1;
    }
    snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02dZ", utc.tm_year + 1900, utc.tm_mon + 1,
             utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static long long days_from_civil(long long year, unsigned month, unsigned day)
{
    year -= month <= 2;
    long long era = (year >= 0 ? year : year - 399) / 400;
    unsigned year_of_era = (unsigned)(year - era * 400);
    unsigned day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + (long long)day_of_era - 719468;
}

/* Reads exactly `count` digits at text[*at]. */
static int read_digits(const char *text, size_t length, size_t *at, size_t count, int *out)
{
    if (*at + count > length)
        return -1;
    int value = 0;
    for (size_t i = 0; i < count; i++) {
        char c = text[*at + i];
        if (c < '0' || c > '9')
            return -1;
        value = value * 10 + (c - '0');
    }
    *at += count;
    *out = value;
    return 0;
}

static int expect(const char *text, size_t length, size_t *at, char c)
{
    if (*at >= length || text[*at] != c)
        return -1;
    (*at)++;
    return 0;
}

int tree_parse_started_at(const char *text, size_t length, long long *seconds_out)
{
    static const int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    size_t at = 0;
    if (text == NULL || read_digits(text, length, &at, 4, &year) < 0 ||
        expect(text, length, &at, '-') < 0 || read_digits(text, length, &at, 2, &month) < 0 ||
        expect(text, length, &at, '-') < 0 || read_digits(text, length, &at, 2, &day) < 0 ||
        expect(text, length, &at, 'T') < 0 || read_digits(text, length, &at, 2, &hour) < 0 ||
        expect(text, length, &at, ':') < 0 || read_digits(text, length, &at, 2, &minute) < 0 ||
        expect(text, length, &at, ':') < 0 || read_digits(text, length, &at, 2, &second) < 0)
        goto invalid;
    if (at < length && text[at] == '.') {
        size_t start = ++at;
        while (at < length && text[at] >= '0' && text[at] <= '9')
            at++;
        if (at == start || at - start > 9)
            goto invalid;
    }
    int offset = 0;
    if (at < length && text[at] == 'Z') {
        at++;
    } else if (at < length && (text[at] == '+' || text[at] == '-')) {
        int sign = text[at++] == '-' ? -1 : 1, offset_hours, offset_minutes;
        if (read_digits(text, length, &at, 2, &offset_hours) < 0 ||
            expect(text, length, &at, ':') < 0 ||
            read_digits(text, length, &at, 2, &offset_minutes) < 0 || offset_hours > 23 ||
            offset_minutes > 59)
            goto invalid;
        offset = sign * (offset_hours * 3600 + offset_minutes * 60);
    } else {
        goto invalid;
    }
    if (at != length || month < 1 || month > 12 || day < 1 || day > month_days[month - 1] ||
        (month == 2 && day == 29 && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))) ||
        hour > 23 || minute > 59 || second > 59)
        goto invalid;
    *seconds_out = days_from_civil(year, (unsigned)month, (unsigned)day) * 86400 + hour * 3600 +
                   minute * 60 + second - offset;
    return 0;
invalid:
    return error_set(-EINVAL, "invalid startedat \"%.*s\": not RFC 3339",
                     (int)(length > 64 ? 64 : length), text ? text : "");
}

enum tree_repository_entry tree_repository_entry_kind(const char *entry)
{
    if (strcmp(entry, "_manifests") == 0)
        return TREE_ENTRY_MANIFESTS;
    if (strcmp(entry, "_layers") == 0)
        return TREE_ENTRY_LAYERS;
    if (strcmp(entry, "_uploads") == 0)
        return TREE_ENTRY_UPLOADS;
    if (entry[0] == '_' || entry[0] == '.')
        return TREE_ENTRY_RESERVED;
    return TREE_ENTRY_NAME_COMPONENT;
}

int tree_path_child(const char *directory, const char *entry, char out[TREE_PATH_MAX])
{
    if (entry[0] == '\0' || strchr(entry, '/') != NULL || strcmp(entry, ".") == 0 ||
        strcmp(entry, "..") == 0)
        return error_set(-EINVAL, "invalid directory entry %s", entry);
    int length = snprintf(out, TREE_PATH_MAX, "%s/%s", directory, entry);
    if (length < 0 || length >= TREE_PATH_MAX)
        return error_set(-ENAMETOOLONG, "path too long: %s/%s", directory, entry);
    return 0;
}
