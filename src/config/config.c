/* src/config/config.h */
#include "src/config/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "drivers/s3_config.h"
#include "layout/duration.h"
#include "layout/error.h"
#include "layout/names.h"
#include "layout/object_key.h"
#include "src/config/tls_cipher_suites.h"

#define KEY_MAX 256
/* List items copied from the file, in all: YAML aliases let a small file name
 * the same long list many times. */
#define VALUES_MAX 100000

/* The state of one config_load(). */
struct loader {
    const char *path;
    yaml_document_t document;
    struct config *config;
    size_t values;
    const yaml_node_t *dry_run_node; /* uploadpurging.dryrun: true */
    const yaml_node_t *htpasswd_node, *token_node, *filesystem_node, *tls_node, *access_node;
    const yaml_node_t *s3_node;
};

struct entry {
    const char *name;
    yaml_node_t *key;
    yaml_node_t *value;
};

/* ---- messages ---- */

static unsigned long line_of(const yaml_node_t *node)
{
    return (unsigned long)node->start_mark.line + 1;
}

/* "got ..." for messages: the scalar quoted, or what the node is. */
static const char *shown(const yaml_node_t *node, char buffer[96])
{
    if (node->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (node->type == YAML_SEQUENCE_NODE)
        return "a list";
    const char *text = (const char *)node->data.scalar.value;
    if (text[0] == '\0')
        return "an empty string";
    snprintf(buffer, 96, "\"%.80s%s\"", text, strlen(text) > 80 ? "..." : "");
    return buffer;
}

__attribute__((format(printf, 4, 5))) static int
fail(struct loader *loader, const yaml_node_t *node, const char *key, const char *format, ...)
{
    char reason[ERROR_MESSAGE_MAX];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(reason, sizeof reason, format, arguments);
    va_end(arguments);
    if (key[0] == '\0')
        return error_set(-EINVAL, "%s:%lu: %s", loader->path, line_of(node), reason);
    return error_set(-EINVAL, "%s:%lu: %s: %s", loader->path, line_of(node), key, reason);
}

static int out_of_memory(void)
{
    return error_set(-ENOMEM, "out of memory while loading the configuration");
}

__attribute__((format(printf, 3, 4))) static int
warn(struct loader *loader, const yaml_node_t *node, const char *format, ...)
{
    char text[ERROR_MESSAGE_MAX];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(text, sizeof text, format, arguments);
    va_end(arguments);

    struct config *config = loader->config;
    char **grown = realloc(config->warnings, (config->warning_count + 1) * sizeof *grown);
    if (grown == NULL)
        return out_of_memory();
    config->warnings = grown;
    char *line;
    if (asprintf(&line, "%s:%lu: %s", loader->path, line_of(node), text) < 0)
        return out_of_memory();
    config->warnings[config->warning_count++] = line;
    return 0;
}

/* Keys for messages ("storage.delete.enabled", "cairn.access[2]"), cut at
 * KEY_MAX - 1 bytes. */
static void append_key(char out[KEY_MAX], const char *text)
{
    size_t length = strlen(out), add = strlen(text);
    if (add > KEY_MAX - 1 - length)
        add = KEY_MAX - 1 - length;
    memcpy(out + length, text, add);
    out[length + add] = '\0';
}

static void join_key(char out[KEY_MAX], const char *parent, const char *name)
{
    out[0] = '\0';
    append_key(out, parent);
    if (parent[0] != '\0')
        append_key(out, ".");
    append_key(out, name);
}

static void index_key(char out[KEY_MAX], const char *parent, size_t index)
{
    char suffix[32];
    snprintf(suffix, sizeof suffix, "[%zu]", index);
    out[0] = '\0';
    append_key(out, parent);
    append_key(out, suffix);
}

static int in_list(const char *name, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strcmp(name, list[i]) == 0)
            return 1;
    return 0;
}

/* A Distribution key cairn does not use (`known`), or a key of neither. */
static int ignore(struct loader *loader, const struct entry *entry, const char *key, int known)
{
    if (known)
        return warn(loader, entry->key, "%s is not used by cairn", key);
    return warn(loader, entry->key, "%s is not a Distribution or cairn key, ignored", key);
}

/* ---- nodes ---- */

/* `key:` with nothing, `~` or `null`: "leave the default". */
static int is_null(const yaml_node_t *node)
{
    if (node == NULL)
        return 1;
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *text = (const char *)node->data.scalar.value;
    return text[0] == '\0' || strcmp(text, "~") == 0 || strcmp(text, "null") == 0 ||
           strcmp(text, "Null") == 0 || strcmp(text, "NULL") == 0;
}

/* The text of a non-empty scalar without NUL characters, or a type error
 * saying that `expected` was expected. */
static int scalar_text(struct loader *loader, const yaml_node_t *node, const char *key,
                       const char *expected, const char **text_out)
{
    char buffer[96];
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.length == 0)
        return fail(loader, node, key, "expected %s, got %s", expected, shown(node, buffer));
    const char *text = (const char *)node->data.scalar.value;
    if (strlen(text) != node->data.scalar.length)
        return fail(loader, node, key, "expected %s, got a value with a NUL character", expected);
    *text_out = text;
    return 0;
}

/* Checks that `node` is a mapping with unique plain keys; a null node is an
 * empty mapping. */
static int mapping_open(struct loader *loader, yaml_node_t *node, const char *key,
                        size_t *count_out)
{
    char buffer[96];
    *count_out = 0;
    if (is_null(node))
        return 0;
    if (node->type != YAML_MAPPING_NODE)
        return fail(loader, node, key, "expected a mapping, got %s", shown(node, buffer));
    size_t count = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    for (size_t i = 0; i < count; i++) {
        yaml_node_pair_t *pair = node->data.mapping.pairs.start + i;
        yaml_node_t *name = yaml_document_get_node(&loader->document, pair->key);
        if (name == NULL || name->type != YAML_SCALAR_NODE ||
            strlen((const char *)name->data.scalar.value) != name->data.scalar.length)
            return fail(loader, name != NULL ? name : node, key, "keys must be plain strings");
        const char *text = (const char *)name->data.scalar.value;
        char full[KEY_MAX];
        join_key(full, key, text);
        if (strcmp(text, "<<") == 0)
            return fail(loader, name, key, "YAML merge keys (<<) are not supported");
        for (size_t j = 0; j < i; j++) {
            yaml_node_t *other =
                yaml_document_get_node(&loader->document, node->data.mapping.pairs.start[j].key);
            if (strcmp((const char *)other->data.scalar.value, text) == 0)
                return fail(loader, name, full, "duplicate key (first at line %lu)",
                            line_of(other));
        }
    }
    *count_out = count;
    return 0;
}

static void mapping_entry(struct loader *loader, yaml_node_t *node, size_t index,
                          struct entry *entry)
{
    yaml_node_pair_t *pair = node->data.mapping.pairs.start + index;
    entry->key = yaml_document_get_node(&loader->document, pair->key);
    entry->value = yaml_document_get_node(&loader->document, pair->value);
    entry->name = (const char *)entry->key->data.scalar.value;
}

/* A list section (`what`: "rules", "mirrors"...): its item count, 0 for an
 * absent or null one. */
static int sequence_open(struct loader *loader, yaml_node_t *node, const char *key,
                         const char *what, size_t *count_out)
{
    char buffer[96];
    *count_out = 0;
    if (is_null(node))
        return 0;
    if (node->type != YAML_SEQUENCE_NODE)
        return fail(loader, node, key, "expected a list of %s, got %s", what, shown(node, buffer));
    *count_out = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    return 0;
}

/* Item `index` of a list sequence_open() accepted, with its key. */
static yaml_node_t *sequence_entry(struct loader *loader, yaml_node_t *node, size_t index,
                                   const char *parent, char key[KEY_MAX])
{
    index_key(key, parent, index);
    return yaml_document_get_node(&loader->document, node->data.sequence.items.start[index]);
}

/* ---- values ---- */

static int get_string(struct loader *loader, const yaml_node_t *node, const char *key, char **out)
{
    const char *text = NULL;
    if (is_null(node))
        return 0;
    int result = scalar_text(loader, node, key, "a string", &text);
    if (result < 0)
        return result;
    char *copy = strdup(text);
    if (copy == NULL)
        return out_of_memory();
    free(*out);
    *out = copy;
    return 0;
}

static int get_buffer(struct loader *loader, const yaml_node_t *node, const char *key, char *out,
                      size_t size)
{
    const char *text = NULL;
    if (is_null(node))
        return 0;
    int result = scalar_text(loader, node, key, "a string", &text);
    if (result < 0)
        return result;
    if (strlen(text) >= size)
        return fail(loader, node, key, "longer than %zu bytes", size - 1);
    strcpy(out, text);
    return 0;
}

/* HOST:PORT, checked as the server will split it. */
static int get_address(struct loader *loader, const yaml_node_t *node, const char *key, char *out,
                       size_t size)
{
    char host[256], port[16];
    const char *text = NULL;
    if (is_null(node))
        return 0;
    int result = scalar_text(loader, node, key, "an address HOST:PORT", &text);
    if (result < 0)
        return result;
    if (config_split_address(text, host, sizeof host, port, sizeof port) < 0) {
        char reason[ERROR_MESSAGE_MAX];
        snprintf(reason, sizeof reason, "%s", error_message());
        return fail(loader, node, key, "%s", reason);
    }
    return get_buffer(loader, node, key, out, size);
}

/* Booleans as Go's YAML (1.1) reads them. */
static int get_bool(struct loader *loader, const yaml_node_t *node, const char *key, int *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
                                      "y",    "Y",    "on",   "On",  "ON",  NULL};
    static const char *const no[] = {"false", "False", "FALSE", "no",  "No",  "NO",
                                     "n",     "N",     "off",   "Off", "OFF", NULL};
    const char *expected = "true or false";
    const char *text = NULL;
    if (is_null(node))
        return 0;
    int result = scalar_text(loader, node, key, expected, &text);
    if (result < 0)
        return result;
    if (in_list(text, yes))
        *out = 1;
    else if (in_list(text, no))
        *out = 0;
    else {
        char buffer[96];
        return fail(loader, node, key, "expected %s, got %s", expected, shown(node, buffer));
    }
    return 0;
}

static int get_count(struct loader *loader, const yaml_node_t *node, const char *key,
                     unsigned minimum, unsigned maximum, unsigned *out)
{
    char expected[64], buffer[96];
    snprintf(expected, sizeof expected, "a number from %u to %u", minimum, maximum);
    const char *text = NULL;
    if (is_null(node))
        return 0;
    int result = scalar_text(loader, node, key, expected, &text);
    if (result < 0)
        return result;
    unsigned long long value = 0;
    size_t i = 0;
    for (; text[i] >= '0' && text[i] <= '9' && value <= maximum; i++)
        value = value * 10 + (unsigned)(text[i] - '0');
    if (i == 0 || text[i] != '\0' || value < minimum || value > maximum)
        return fail(loader, node, key, "expected %s, got %s", expected, shown(node, buffer));
    *out = (unsigned)value;
    return 0;
}

/* A duration, at least `minimum` seconds; with `bare_seconds`, a plain
 * number is seconds (cairn's keys; Go would read nanoseconds). */
static int get_duration(struct loader *loader, const yaml_node_t *node, const char *key,
                        int bare_seconds, uint64_t minimum, uint64_t *out)
{
    char buffer[96];
    const char *expected = "a duration such as 90s, 15m or 1h30m";
    const char *text = NULL;
    if (is_null(node))
        return 0;
    int result = scalar_text(loader, node, key, expected, &text);
    if (result < 0)
        return result;
    uint64_t seconds = 0;
    size_t digits = strspn(text, "0123456789");
    if (bare_seconds && digits > 0 && text[digits] == '\0' && digits <= 12) {
        seconds = strtoull(text, NULL, 10);
    } else if (config_parse_duration(text, &seconds) < 0) {
        char reason[ERROR_MESSAGE_MAX];
        snprintf(reason, sizeof reason, "%s", error_message());
        return fail(loader, node, key, "%s", reason);
    }
    if (seconds < minimum)
        return fail(loader, node, key, "must be at least %llus, got %s",
                    (unsigned long long)minimum, shown(node, buffer));
    *out = seconds;
    return 0;
}

static int get_size(struct loader *loader, const yaml_node_t *node, const char *key,
                    uint64_t minimum, uint64_t *out)
{
    char buffer[96];
    const char *text = NULL;
    if (is_null(node))
        return 0;
    int result = scalar_text(loader, node, key, "a size such as 512MiB", &text);
    if (result < 0)
        return result;
    uint64_t bytes;
    if (config_parse_size(text, &bytes) < 0) {
        char reason[ERROR_MESSAGE_MAX];
        snprintf(reason, sizeof reason, "%s", error_message());
        return fail(loader, node, key, "%s", reason);
    }
    if (bytes < minimum)
        return fail(loader, node, key, "must be at least %llu bytes, got %s",
                    (unsigned long long)minimum, shown(node, buffer));
    *out = bytes;
    return 0;
}

static void free_list(char **items, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(items[i]);
    free(items);
}

/* A list of non-empty strings, or one string standing for a list of one.
 * A null node leaves the list as it is. */
static int get_list(struct loader *loader, yaml_node_t *node, const char *key, char ***items_out,
                    size_t *count_out)
{
    if (is_null(node))
        return 0;
    yaml_node_t *single[1] = {node};
    size_t count = 1;
    if (node->type == YAML_SEQUENCE_NODE)
        count = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    else if (node->type == YAML_MAPPING_NODE) {
        char buffer[96];
        return fail(loader, node, key, "expected a list of strings, got %s", shown(node, buffer));
    }
    loader->values += count;
    if (loader->values > VALUES_MAX)
        return fail(loader, node, key, "more than %d values in the file", VALUES_MAX);
    char **items = calloc(count > 0 ? count : 1, sizeof *items);
    if (items == NULL)
        return out_of_memory();
    int result = 0;
    for (size_t i = 0; i < count && result == 0; i++) {
        yaml_node_t *item = single[0];
        char item_key[KEY_MAX];
        item_key[0] = '\0';
        append_key(item_key, key);
        if (node->type == YAML_SEQUENCE_NODE) {
            item = yaml_document_get_node(&loader->document, node->data.sequence.items.start[i]);
            index_key(item_key, key, i);
        }
        const char *text = NULL;
        result = scalar_text(loader, item, item_key, "a string", &text);
        if (result == 0 && (items[i] = strdup(text)) == NULL)
            result = out_of_memory();
    }
    if (result < 0) {
        free_list(items, count);
        return result;
    }
    free_list(*items_out, *count_out);
    *items_out = items;
    *count_out = count;
    return 0;
}

/* The line and key of list item `index` for messages. */
static const yaml_node_t *list_item_node(struct loader *loader, const yaml_node_t *list,
                                         size_t index, const char *key, char out[KEY_MAX])
{
    if (list->type != YAML_SEQUENCE_NODE) {
        out[0] = '\0';
        append_key(out, key);
        return list;
    }
    index_key(out, key, index);
    return yaml_document_get_node(&loader->document, list->data.sequence.items.start[index]);
}

/* ---- sections ---- */

static int load_version(struct loader *loader, const yaml_node_t *node)
{
    char buffer[96];
    const char *text = NULL;
    if (is_null(node))
        return 0;
    int result = scalar_text(loader, node, "version", "\"0.1\"", &text);
    if (result < 0)
        return result;
    if (strcmp(text, "0.1") != 0)
        return fail(loader, node, "version",
                    "expected \"0.1\" (the only version of the format), got %s",
                    shown(node, buffer));
    return 0;
}

static int load_log(struct loader *loader, yaml_node_t *node)
{
    static const char *const known[] = {"fields", "hooks", "reportcaller", NULL};
    struct config *config = loader->config;
    size_t count;
    int result = mapping_open(loader, node, "log", &count);
    for (size_t i = 0; i < count && result == 0; i++) {
        struct entry entry;
        char key[KEY_MAX], buffer[96];
        const char *text = NULL;
        mapping_entry(loader, node, i, &entry);
        join_key(key, "log", entry.name);
        if (strcmp(entry.name, "level") == 0) {
            if (is_null(entry.value))
                continue;
            const char *expected = "error, warn, info or debug";
            result = scalar_text(loader, entry.value, key, expected, &text);
            if (result < 0)
                break;
            if (strcmp(text, "error") == 0 || strcmp(text, "fatal") == 0 ||
                strcmp(text, "panic") == 0)
                config->log_level = LOG_LEVEL_ERROR;
            else if (strcmp(text, "warn") == 0 || strcmp(text, "warning") == 0)
                config->log_level = LOG_LEVEL_WARN;
            else if (strcmp(text, "info") == 0)
                config->log_level = LOG_LEVEL_INFO;
            else if (strcmp(text, "debug") == 0 || strcmp(text, "trace") == 0)
                config->log_level = LOG_LEVEL_DEBUG;
            else
                result = fail(loader, entry.value, key, "expected %s, got %s", expected,
                              shown(entry.value, buffer));
        } else if (strcmp(entry.name, "formatter") == 0) {
            if (is_null(entry.value))
                continue;
            const char *expected = "text or json";
            result = scalar_text(loader, entry.value, key, expected, &text);
            if (result < 0)
                break;
            if (strcmp(text, "text") == 0)
                config->log_format = LOG_FORMAT_TEXT;
            else if (strcmp(text, "json") == 0)
                config->log_format = LOG_FORMAT_JSON;
            else if (strcmp(text, "logstash") == 0) {
                config->log_format = LOG_FORMAT_JSON;
                result =
                    warn(loader, entry.value, "%s: logstash is not supported, using json", key);
            } else
                result = fail(loader, entry.value, key, "expected %s, got %s", expected,
                              shown(entry.value, buffer));
        } else if (strcmp(entry.name, "accesslog") == 0) {
            size_t access_count;
            result = mapping_open(loader, entry.value, key, &access_count);
            for (size_t j = 0; j < access_count && result == 0; j++) {
                struct entry access;
                char access_key[KEY_MAX];
                mapping_entry(loader, entry.value, j, &access);
                join_key(access_key, key, access.name);
                if (strcmp(access.name, "disabled") == 0) {
                    int disabled = !config->access_log;
                    result = get_bool(loader, access.value, access_key, &disabled);
                    config->access_log = !disabled;
                } else
                    result = ignore(loader, &access, access_key, 0);
            }
        } else
            result = ignore(loader, &entry, key, in_list(entry.name, known));
    }
    return result;
}

static int load_upload_purging(struct loader *loader, yaml_node_t *node, const char *parent)
{
    struct config *config = loader->config;
    size_t count;
    int result = mapping_open(loader, node, parent, &count);
    for (size_t i = 0; i < count && result == 0; i++) {
        struct entry entry;
        char key[KEY_MAX];
        mapping_entry(loader, node, i, &entry);
        join_key(key, parent, entry.name);
        if (strcmp(entry.name, "enabled") == 0)
            result = get_bool(loader, entry.value, key, &config->upload_purging_enabled);
        else if (strcmp(entry.name, "age") == 0)
            result =
                get_duration(loader, entry.value, key, 0, 1, &config->upload_purging_age_seconds);
        else if (strcmp(entry.name, "interval") == 0)
            result = get_duration(loader, entry.value, key, 0, 1,
                                  &config->upload_purging_interval_seconds);
        else if (strcmp(entry.name, "dryrun") == 0) {
            int dry_run = 0;
            result = get_bool(loader, entry.value, key, &dry_run);
            loader->dry_run_node = dry_run ? entry.value : NULL;
        } else
            result = ignore(loader, &entry, key, 0);
    }
    return result;
}

/* A mapping with one boolean key `name` (storage.delete.enabled,
 * storage.redirect.disable, ...); other keys are ignored with a warning. */
static int load_one_bool(struct loader *loader, yaml_node_t *node, const char *parent,
                         const char *name, int *out)
{
    size_t count;
    int result = mapping_open(loader, node, parent, &count);
    for (size_t i = 0; i < count && result == 0; i++) {
        struct entry entry;
        char key[KEY_MAX];
        mapping_entry(loader, node, i, &entry);
        join_key(key, parent, entry.name);
        if (strcmp(entry.name, name) == 0)
            result = get_bool(loader, entry.value, key, out);
        else
            result = ignore(loader, &entry, key, 0);
    }
    return result;
}

static int load_maintenance(struct loader *loader, yaml_node_t *node, const char *parent)
{
    size_t count;
    int result = mapping_open(loader, node, parent, &count);
    for (size_t i = 0; i < count && result == 0; i++) {
        struct entry entry;
        char key[KEY_MAX];
        mapping_entry(loader, node, i, &entry);
        join_key(key, parent, entry.name);
        if (strcmp(entry.name, "uploadpurging") == 0)
            result = load_upload_purging(loader, entry.value, key);
        else if (strcmp(entry.name, "readonly") == 0)
            result = load_one_bool(loader, entry.value, key, "enabled", &loader->config->read_only);
        else
            result = ignore(loader, &entry, key, 0);
    }
    return result;
}

/* ---- storage.s3: Distribution's keys and cairn's, into drivers/s3_config.h's
 * struct; the driver resolves credentials and the endpoint. Its values are
 * read as Distribution's S3 driver reads them (an empty value is a value,
 * "true"/"yes"/"false"/"no" in any case), with its own messages. ---- */

static int s3_scalar(struct loader *loader, const yaml_node_t *node, const char *key,
                     const char **text)
{
    if (node->type != YAML_SCALAR_NODE)
        return fail(loader, node, key, "must be a single value");
    *text = (const char *)node->data.scalar.value;
    if (strlen(*text) != node->data.scalar.length)
        return fail(loader, node, key, "holds a NUL byte");
    return 0;
}

static int s3_get_text(struct loader *loader, const yaml_node_t *node, const char *key, char *out,
                       size_t size)
{
    const char *text = NULL;
    int result = s3_scalar(loader, node, key, &text);
    if (result < 0)
        return result;
    if (strlen(text) >= size)
        return fail(loader, node, key, "longer than %zu bytes", size - 1);
    for (const char *c = text; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return fail(loader, node, key, "holds a control character");
    strcpy(out, text);
    return 0;
}

static int s3_get_bool(struct loader *loader, const yaml_node_t *node, const char *key, int *out)
{
    const char *text = NULL;
    int result = s3_scalar(loader, node, key, &text);
    if (result < 0)
        return result;
    if (strcasecmp(text, "true") == 0 || strcasecmp(text, "yes") == 0)
        *out = 1;
    else if (strcasecmp(text, "false") == 0 || strcasecmp(text, "no") == 0)
        *out = 0;
    else
        return fail(loader, node, key, "must be true or false");
    return 0;
}

static int s3_get_integer(struct loader *loader, const yaml_node_t *node, const char *key,
                          long long minimum, long long maximum, long long *out)
{
    const char *text = NULL;
    int result = s3_scalar(loader, node, key, &text);
    if (result < 0)
        return result;
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || errno != 0 || value < minimum || value > maximum)
        return fail(loader, node, key, "must be a whole number from %lld to %lld", minimum,
                    maximum);
    *out = value;
    return 0;
}

static int s3_get_duration_ms(struct loader *loader, const yaml_node_t *node, const char *key,
                              uint64_t minimum, uint64_t maximum, long *out)
{
    const char *text = NULL;
    uint64_t seconds;
    int result = s3_scalar(loader, node, key, &text);
    if (result < 0)
        return result;
    if (duration_parse(text, &seconds) < 0) {
        char reason[ERROR_MESSAGE_MAX];
        snprintf(reason, sizeof reason, "%s", error_message());
        return fail(loader, node, key, "%s", reason);
    }
    if (seconds < minimum || seconds > maximum)
        return fail(loader, node, key, "must be from %llus to %llus", (unsigned long long)minimum,
                    (unsigned long long)maximum);
    *out = (long)(seconds * 1000);
    return 0;
}

static int load_s3_key(struct loader *loader, const struct entry *entry, const char *key,
                       struct s3_config *section, const yaml_node_t **endpoint_node)
{
    struct s3_settings *settings = &section->settings;
    const char *name = entry->name;
    const yaml_node_t *value = entry->value;
    long long number = 0;
    int result = 0;
    if (strcmp(name, "accesskey") == 0)
        return s3_get_text(loader, value, key, settings->access_key, sizeof settings->access_key);
    if (strcmp(name, "secretkey") == 0)
        return s3_get_text(loader, value, key, settings->secret_key, sizeof settings->secret_key);
    if (strcmp(name, "region") == 0)
        return s3_get_text(loader, value, key, settings->region, sizeof settings->region);
    if (strcmp(name, "regionendpoint") == 0) {
        *endpoint_node = value;
        return s3_get_text(loader, value, key, section->region_endpoint,
                           sizeof section->region_endpoint);
    }
    if (strcmp(name, "bucket") == 0)
        return s3_get_text(loader, value, key, settings->bucket, sizeof settings->bucket);
    if (strcmp(name, "rootdirectory") == 0) {
        char prefix[OBJECT_KEY_MAX];
        result = s3_get_text(loader, value, key, settings->root_directory,
                             sizeof settings->root_directory);
        if (result == 0 && object_key_prefix_normalize(settings->root_directory, prefix) < 0) {
            char reason[ERROR_MESSAGE_MAX];
            snprintf(reason, sizeof reason, "%s", error_message());
            result = fail(loader, value, key, "%s", reason);
        }
        return result;
    }
    if (strcmp(name, "forcepathstyle") == 0)
        return s3_get_bool(loader, value, key, &settings->path_style);
    if (strcmp(name, "secure") == 0)
        return s3_get_bool(loader, value, key, &section->secure);
    if (strcmp(name, "skipverify") == 0)
        return s3_get_bool(loader, value, key, &settings->skip_verify);
    if (strcmp(name, "chunksize") == 0) {
        result = s3_get_integer(loader, value, key, S3_CONFIG_CHUNK_SIZE_MIN,
                                S3_CONFIG_CHUNK_SIZE_MAX, &number);
        settings->part_size = number;
    } else if (strcmp(name, "uploadconcurrency") == 0) {
        result = s3_get_integer(loader, value, key, 1, S3_CONFIG_UPLOAD_CONCURRENCY_MAX, &number);
        settings->upload_concurrency = (int)number;
    } else if (strcmp(name, "attempts") == 0) {
        result = s3_get_integer(loader, value, key, 1, S3_CONFIG_ATTEMPTS_MAX, &number);
        settings->attempts = (int)number;
    } else if (strcmp(name, "connecttimeout") == 0)
        result = s3_get_duration_ms(loader, value, key, 1, S3_CONFIG_CONNECT_TIMEOUT_MAX_SECONDS,
                                    &settings->connect_timeout_ms);
    else if (strcmp(name, "requesttimeout") == 0)
        result = s3_get_duration_ms(loader, value, key, 1, S3_CONFIG_REQUEST_TIMEOUT_MAX_SECONDS,
                                    &settings->request_timeout_ms);
    else if (strcmp(name, "presignexpiry") == 0) {
        long milliseconds = 0;
        result = s3_get_duration_ms(loader, value, key, 1, S3_CONFIG_PRESIGN_EXPIRY_MAX_SECONDS,
                                    &milliseconds);
        settings->presign_expiry_seconds = milliseconds / 1000;
    } else
        result = warn(loader, entry->key,
                      in_list(name, s3_config_distribution_only)
                          ? "storage.s3.%.100s is not used by cairn"
                          : "storage.s3.%.100s is not a Distribution or cairn key, ignored",
                      name);
    return result;
}

static int load_s3(struct loader *loader, yaml_node_t *node)
{
    struct s3_config section;
    const yaml_node_t *endpoint_node = NULL;
    int result = 0;
    s3_config_defaults(&section);
    if (node->type == YAML_SCALAR_NODE && node->data.scalar.length == 0) {
        /* "s3:" with nothing under it: every key from defaults */
    } else if (node->type != YAML_MAPPING_NODE)
        return fail(loader, node, "storage.s3", "must be a mapping of keys");
    else
        for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
             pair < node->data.mapping.pairs.top && result == 0; pair++) {
            struct entry entry;
            char key[KEY_MAX];
            entry.key = yaml_document_get_node(&loader->document, pair->key);
            entry.value = yaml_document_get_node(&loader->document, pair->value);
            if (entry.key == NULL || entry.value == NULL || entry.key->type != YAML_SCALAR_NODE)
                continue;
            entry.name = (const char *)entry.key->data.scalar.value;
            join_key(key, "storage.s3", entry.name);
            result = load_s3_key(loader, &entry, key, &section, &endpoint_node);
        }
    if (result < 0)
        return result;
    const char *bad_key = "";
    if (s3_config_resolve(&section, &loader->config->s3, &bad_key) < 0) {
        const yaml_node_t *bad = node;
        if (strcmp(bad_key, "regionendpoint") == 0 && endpoint_node != NULL)
            bad = endpoint_node;
        char reason[ERROR_MESSAGE_MAX];
        snprintf(reason, sizeof reason, "%s", error_message());
        return fail(loader, bad, "", "%s", reason);
    }
    loader->config->s3_enabled = 1;
    return 0;
}

static int load_storage(struct loader *loader, yaml_node_t *node)
{
    static const char *const known[] = {"cache", "tag", NULL};
    struct config *config = loader->config;
    size_t count;
    int result = mapping_open(loader, node, "storage", &count);
    for (size_t i = 0; i < count && result == 0; i++) {
        struct entry entry;
        char key[KEY_MAX];
        mapping_entry(loader, node, i, &entry);
        join_key(key, "storage", entry.name);
        if (strcmp(entry.name, "filesystem") == 0) {
            loader->filesystem_node = entry.key;
            size_t fs_count;
            int has_root = 0;
            result = mapping_open(loader, entry.value, key, &fs_count);
            for (size_t j = 0; j < fs_count && result == 0; j++) {
                struct entry fs;
                char fs_key[KEY_MAX];
                mapping_entry(loader, entry.value, j, &fs);
                join_key(fs_key, key, fs.name);
                if (strcmp(fs.name, "rootdirectory") == 0) {
                    has_root = !is_null(fs.value);
                    result = get_buffer(loader, fs.value, fs_key, config->root_directory,
                                        sizeof config->root_directory);
                } else
                    result = ignore(loader, &fs, fs_key, strcmp(fs.name, "maxthreads") == 0);
            }
            if (result == 0 && !has_root)
                result = warn(loader, entry.key,
                              "%s has no rootdirectory: cairn uses %s (Distribution would use "
                              "%s)",
                              key, config->root_directory, DISTRIBUTION_DEFAULT_ROOT_DIRECTORY);
        } else if (strcmp(entry.name, "delete") == 0) {
            result = load_one_bool(loader, entry.value, key, "enabled", &config->delete_enabled);
        } else if (strcmp(entry.name, "maintenance") == 0) {
            result = load_maintenance(loader, entry.value, key);
        } else if (strcmp(entry.name, "redirect") == 0) {
            result = load_one_bool(loader, entry.value, key, "disable", &config->redirect_disabled);
        } else if (strcmp(entry.name, "s3") == 0) {
            loader->s3_node = entry.key;
            result = load_s3(loader, entry.value);
        } else if (in_list(entry.name, known)) {
            result = ignore(loader, &entry, key, 1);
        }
        /* Every other key names a storage driver, as in Distribution: below. */
    }
    for (size_t i = 0; i < count && result == 0; i++) {
        static const char *const special[] = {"filesystem", "delete", "maintenance", "cache",
                                              "redirect",   "tag",    "s3",          NULL};
        struct entry entry;
        mapping_entry(loader, node, i, &entry);
        if (in_list(entry.name, special))
            continue;
        if (loader->filesystem_node != NULL || loader->s3_node != NULL)
            result = warn(loader, entry.key,
                          "storage.%s: cairn has the filesystem and s3 drivers; this one is "
                          "ignored",
                          entry.name);
        else
            result = warn(loader, entry.key,
                          "storage.%s: cairn has the filesystem and s3 drivers; this one is "
                          "ignored and the registry is kept in %s",
                          entry.name, config->root_directory);
    }
    if (result == 0 && loader->s3_node != NULL && loader->filesystem_node == NULL)
        result = warn(loader, loader->s3_node,
                      "storage.s3: blobs go to the bucket; the tree (tags, links, manifests, "
                      "uploads) is kept in %s (storage.filesystem.rootdirectory)",
                      config->root_directory);
    return result;
}

/* http.tls.ciphersuites: Distribution's (Go's) suite names, a list or one
 * name, into config->tls_cipher_list (tls_cipher_suites.h says which names
 * are accepted, refused or only warned about). An empty list keeps the
 * default, as in Distribution. */
static int load_cipher_suites(struct loader *loader, yaml_node_t *node, const char *key)
{
    char buffer[96];
    if (is_null(node))
        return 0;
    if (node->type == YAML_MAPPING_NODE)
        return fail(loader, node, key, "expected a list of cipher suite names, got %s",
                    shown(node, buffer));
    size_t count = 1;
    if (node->type == YAML_SEQUENCE_NODE)
        count = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (count == 0)
        return 0;
    /* Every OpenSSL name is shorter than its Go name: the Go names' lengths,
     * each plus a separator, bound the list. */
    size_t capacity = 1;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item =
            node->type == YAML_SEQUENCE_NODE
                ? yaml_document_get_node(&loader->document, node->data.sequence.items.start[i])
                : node;
        capacity += item->type == YAML_SCALAR_NODE ? item->data.scalar.length + 1 : 0;
    }
    char *list = malloc(capacity);
    if (list == NULL)
        return out_of_memory();
    list[0] = '\0';
    size_t length = 0;
    const yaml_node_t *first_tls13 = NULL;
    int result = 0;
    for (size_t i = 0; i < count && result == 0; i++) {
        yaml_node_t *item = node;
        char item_key[KEY_MAX];
        item_key[0] = '\0';
        append_key(item_key, key);
        if (node->type == YAML_SEQUENCE_NODE) {
            item = yaml_document_get_node(&loader->document, node->data.sequence.items.start[i]);
            index_key(item_key, key, i);
        }
        const char *name;
        result = scalar_text(loader, item, item_key, "a cipher suite name", &name);
        if (result < 0)
            break;
        const struct tls_cipher_suite *suite = tls_cipher_suite_find(name);
        if (suite == NULL) {
            result = fail(loader, item, item_key,
                          "unknown cipher suite %s (names as in Distribution, such as "
                          "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)",
                          shown(item, buffer));
        } else if (suite->kind == TLS_CIPHER_SUITE_INSECURE) {
            result = fail(loader, item, item_key,
                          "%s is insecure (RC4, 3DES or CBC with SHA-256) and not supported", name);
        } else if (suite->kind == TLS_CIPHER_SUITE_TLS13) {
            if (first_tls13 == NULL)
                first_tls13 = item;
        } else {
            if (suite->kind == TLS_CIPHER_SUITE_LEGACY)
                result = warn(loader, item,
                              "%s: %s is outside Mozilla's intermediate profile (static RSA key "
                              "exchange or CBC); TLS 1.2 offers it as listed",
                              item_key, name);
            size_t add = strlen(suite->openssl_name);
            if (length > 0)
                list[length++] = ':';
            memcpy(list + length, suite->openssl_name, add + 1);
            length += add;
        }
    }
    if (result == 0 && first_tls13 != NULL)
        result =
            warn(loader, first_tls13,
                 length > 0 ? "%s: TLS 1.3 suites cannot be configured (as in Distribution); "
                              "TLS 1.3 offers all of its suites"
                            : "%s lists only TLS 1.3 suites, which cannot be configured (as in "
                              "Distribution): TLS 1.2 clients cannot connect, TLS 1.3 offers "
                              "all of its suites",
                 key);
    if (result < 0) {
        free(list);
        return result;
    }
    free(loader->config->tls_cipher_list);
    loader->config->tls_cipher_list = list;
    return 0;
}

static int load_tls(struct loader *loader, yaml_node_t *node, const char *parent)
{
    static const char *const known[] = {"letsencrypt", NULL};
    yaml_node_t *cipher_suites_key = NULL, *cipher_suites = NULL;
    struct config *config = loader->config;
    size_t count;
    int result = mapping_open(loader, node, parent, &count);
    for (size_t i = 0; i < count && result == 0; i++) {
        struct entry entry;
        char key[KEY_MAX], buffer[96];
        const char *text = NULL;
        mapping_entry(loader, node, i, &entry);
        join_key(key, parent, entry.name);
        if (strcmp(entry.name, "certificate") == 0)
            result = get_string(loader, entry.value, key, &config->tls_certificate);
        else if (strcmp(entry.name, "key") == 0)
            result = get_string(loader, entry.value, key, &config->tls_key);
        else if (strcmp(entry.name, "clientcas") == 0)
            result = get_list(loader, entry.value, key, &config->tls_client_cas,
                              &config->tls_client_ca_count);
        else if (strcmp(entry.name, "minimumtls") == 0) {
            if (is_null(entry.value))
                continue;
            const char *expected = "tls1.2 or tls1.3";
            result = scalar_text(loader, entry.value, key, expected, &text);
            if (result < 0)
                break;
            if (strcmp(text, "tls1.2") == 0)
                config->tls_minimum_version = 0x0303;
            else if (strcmp(text, "tls1.3") == 0)
                config->tls_minimum_version = 0x0304;
            else if (strcmp(text, "tls1.0") == 0 || strcmp(text, "tls1.1") == 0) {
                config->tls_minimum_version = 0x0303;
                result = warn(loader, entry.value, "%s: %s is below cairn's minimum, using tls1.2",
                              key, text);
            } else
                result = fail(loader, entry.value, key, "expected %s, got %s", expected,
                              shown(entry.value, buffer));
        } else if (strcmp(entry.name, "ciphersuites") == 0) {
            cipher_suites_key = entry.key;
            cipher_suites = entry.value;
        } else
            result = ignore(loader, &entry, key, in_list(entry.name, known));
    }
    /* After the loop: minimumtls may come after ciphersuites. */
    if (result == 0 && cipher_suites != NULL) {
        char key[KEY_MAX];
        join_key(key, parent, "ciphersuites");
        if (config->tls_minimum_version >= 0x0304 && !is_null(cipher_suites))
            result = warn(loader, cipher_suites_key,
                          "%s is not used with minimumtls tls1.3 (TLS 1.3's suites cannot be "
                          "configured, as in Distribution)",
                          key);
        else
            result = load_cipher_suites(loader, cipher_suites, key);
    }
    return result;
}

static int load_http(struct loader *loader, yaml_node_t *node)
{
    static const char *const known[] = {"host",         "prefix",       "secret",
                                        "relativeurls", "headers",      "http2",
                                        "h2c",          "draintimeout", NULL};
    struct config *config = loader->config;
    size_t count;
    int result = mapping_open(loader, node, "http", &count);
    for (size_t i = 0; i < count && result == 0; i++) {
        struct entry entry;
        char key[KEY_MAX], buffer[96];
        const char *text = NULL;
        mapping_entry(loader, node, i, &entry);
        join_key(key, "http", entry.name);
        if (strcmp(entry.name, "addr") == 0) {
            result = get_address(loader, entry.value, key, config->listen_address,
                                 sizeof config->listen_address);
        } else if (strcmp(entry.name, "tls") == 0) {
            loader->tls_node = entry.key;
            result = load_tls(loader, entry.value, key);
        } else if (strcmp(entry.name, "debug") == 0) {
            size_t debug_count;
            result = mapping_open(loader, entry.value, key, &debug_count);
            for (size_t j = 0; j < debug_count && result == 0; j++) {
                struct entry debug;
                char debug_key[KEY_MAX];
                mapping_entry(loader, entry.value, j, &debug);
                join_key(debug_key, key, debug.name);
                if (strcmp(debug.name, "addr") == 0)
                    result = get_address(loader, debug.value, debug_key, config->debug_address,
                                         sizeof config->debug_address);
                else
                    result =
                        ignore(loader, &debug, debug_key, strcmp(debug.name, "prometheus") == 0);
            }
        } else if (strcmp(entry.name, "idle_timeout") == 0) {
            result = get_duration(loader, entry.value, key, 1, 1, &config->idle_timeout_seconds);
        } else if (strcmp(entry.name, "header_timeout") == 0) {
            result = get_duration(loader, entry.value, key, 1, 1, &config->header_timeout_seconds);
        } else if (strcmp(entry.name, "http2_reset_block") == 0) {
            result =
                get_duration(loader, entry.value, key, 1, 0, &config->http2_reset_block_seconds);
        } else if (strcmp(entry.name, "max_connections") == 0) {
            result = get_count(loader, entry.value, key, 1, CONFIG_MAX_CONNECTIONS_MAX,
                               &config->max_connections);
        } else if (strcmp(entry.name, "net") == 0) {
            if (is_null(entry.value))
                continue;
            result = scalar_text(loader, entry.value, key, "tcp", &text);
            if (result == 0 && strcmp(text, "tcp") != 0)
                result = fail(loader, entry.value, key, "cairn listens on tcp only, got %s",
                              shown(entry.value, buffer));
            if (result == 0)
                result = ignore(loader, &entry, key, 1);
        } else
            result = ignore(loader, &entry, key, in_list(entry.name, known));
    }
    return result;
}

static int load_auth(struct loader *loader, yaml_node_t *node)
{
    struct config *config = loader->config;
    size_t count;
    int result = mapping_open(loader, node, "auth", &count);
    for (size_t i = 0; i < count && result == 0; i++) {
        struct entry entry;
        char key[KEY_MAX];
        mapping_entry(loader, node, i, &entry);
        join_key(key, "auth", entry.name);
        int htpasswd = strcmp(entry.name, "htpasswd") == 0;
        int token = strcmp(entry.name, "token") == 0;
        if (!htpasswd && !token) {
            if (strcmp(entry.name, "silly") == 0)
                result = ignore(loader, &entry, key, 1);
            else
                result = fail(loader, entry.key, key,
                              "unknown authentication method (cairn has htpasswd and token)");
            continue;
        }
        const yaml_node_t *other = htpasswd ? loader->token_node : loader->htpasswd_node;
        if (other != NULL) {
            result = fail(loader, entry.key, key,
                          "auth.htpasswd and auth.token cannot both be configured (the other "
                          "is at line %lu)",
                          line_of(other));
            break;
        }
        if (htpasswd)
            loader->htpasswd_node = entry.key;
        else
            loader->token_node = entry.key;
        size_t method_count;
        result = mapping_open(loader, entry.value, key, &method_count);
        for (size_t j = 0; j < method_count && result == 0; j++) {
            struct entry setting;
            char setting_key[KEY_MAX];
            mapping_entry(loader, entry.value, j, &setting);
            join_key(setting_key, key, setting.name);
            char **field = NULL;
            if (htpasswd && strcmp(setting.name, "realm") == 0)
                field = &config->htpasswd_realm;
            else if (htpasswd && strcmp(setting.name, "path") == 0)
                field = &config->htpasswd_path;
            else if (token && strcmp(setting.name, "realm") == 0)
                field = &config->token_realm;
            else if (token && strcmp(setting.name, "service") == 0)
                field = &config->token_service;
            else if (token && strcmp(setting.name, "issuer") == 0)
                field = &config->token_issuer;
            else if (token && strcmp(setting.name, "rootcertbundle") == 0)
                field = &config->token_root_certificate_bundle;
            else if (token && strcmp(setting.name, "jwks") == 0)
                field = &config->token_jwks;
            if (field != NULL)
                result = get_string(loader, setting.value, setting_key, field);
            else
                result = ignore(loader, &setting, setting_key,
                                token && (strcmp(setting.name, "autoredirect") == 0 ||
                                          strcmp(setting.name, "autoredirectpath") == 0 ||
                                          strcmp(setting.name, "signingalgorithms") == 0));
        }
    }
    return result;
}

/* User and group names: what htpasswd allows (no ':'), without blanks. */
static int valid_name(const char *text)
{
    if (text[0] == '\0')
        return 0;
    for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++)
        if (*c <= ' ' || *c == ':' || *c == 0x7f)
            return 0;
    return 1;
}

static int load_groups(struct loader *loader, yaml_node_t *node, const char *parent)
{
    struct config *config = loader->config;
    size_t count;
    int result = mapping_open(loader, node, parent, &count);
    if (result < 0 || count == 0)
        return result;
    config->groups = calloc(count, sizeof *config->groups);
    if (config->groups == NULL)
        return out_of_memory();
    for (size_t i = 0; i < count && result == 0; i++) {
        struct entry entry;
        char key[KEY_MAX];
        mapping_entry(loader, node, i, &entry);
        join_key(key, parent, entry.name);
        if (!valid_name(entry.name)) {
            result = fail(loader, entry.key, key,
                          "a group name has no blanks, ':' or control characters");
            break;
        }
        struct access_group_spec *group = &config->groups[config->group_count++];
        if ((group->name = strdup(entry.name)) == NULL) {
            result = out_of_memory();
            break;
        }
        result = get_list(loader, entry.value, key, &group->members, &group->member_count);
        for (size_t j = 0; j < group->member_count && result == 0; j++) {
            char item_key[KEY_MAX];
            if (!valid_name(group->members[j]))
                result = fail(loader, list_item_node(loader, entry.value, j, key, item_key),
                              item_key, "a user name has no blanks, ':' or control characters");
        }
    }
    return result;
}

static int find_group(const struct config *config, const char *name)
{
    for (size_t i = 0; i < config->group_count; i++)
        if (strcmp(config->groups[i].name, name) == 0)
            return 1;
    return 0;
}

/* Repository patterns: a repository name's characters, '/', '*' and '?'. */
static int valid_pattern(const char *text)
{
    if (text[0] == '\0')
        return 0;
    for (const char *c = text; *c != '\0'; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || strchr("._-/*?", *c) != NULL))
            return 0;
    return 1;
}

static int load_rule(struct loader *loader, yaml_node_t *node, const char *parent,
                     struct access_rule_spec *rule)
{
    static const char *const required[] = {"subjects", "repositories", "actions"};
    const struct config *config = loader->config;
    char buffer[96];
    if (node->type != YAML_MAPPING_NODE)
        return fail(loader, node, parent,
                    "expected a mapping with subjects, repositories and actions, got %s",
                    shown(node, buffer));
    size_t count;
    int result = mapping_open(loader, node, parent, &count);
    const yaml_node_t *seen[3] = {NULL, NULL, NULL};
    for (size_t i = 0; i < count && result == 0; i++) {
        struct entry entry;
        char key[KEY_MAX], item_key[KEY_MAX];
        mapping_entry(loader, node, i, &entry);
        join_key(key, parent, entry.name);
        if (strcmp(entry.name, "subjects") == 0) {
            seen[0] = entry.value;
            result = get_list(loader, entry.value, key, &rule->subjects, &rule->subject_count);
            for (size_t j = 0; j < rule->subject_count && result == 0; j++) {
                const char *subject = rule->subjects[j];
                const yaml_node_t *item = list_item_node(loader, entry.value, j, key, item_key);
                if (strncmp(subject, "group:", 6) == 0) {
                    if (!find_group(config, subject + 6))
                        result = fail(loader, item, item_key, "no group \"%.100s\" in cairn.groups",
                                      subject + 6);
                } else if (!valid_name(subject))
                    result = fail(loader, item, item_key,
                                  "expected a user name, \"group:<name>\", \"anonymous\" or "
                                  "\"*\", got %s",
                                  shown(item, buffer));
            }
        } else if (strcmp(entry.name, "repositories") == 0) {
            seen[1] = entry.value;
            result =
                get_list(loader, entry.value, key, &rule->repositories, &rule->repository_count);
            for (size_t j = 0; j < rule->repository_count && result == 0; j++) {
                const yaml_node_t *item = list_item_node(loader, entry.value, j, key, item_key);
                if (!valid_pattern(rule->repositories[j]) || strstr(rule->repositories[j], "***"))
                    result = fail(loader, item, item_key,
                                  "expected a repository pattern (lowercase name characters, "
                                  "'/', '*', '**', '?'), got %s",
                                  shown(item, buffer));
            }
        } else if (strcmp(entry.name, "actions") == 0) {
            seen[2] = entry.value;
            char **actions = NULL;
            size_t action_count = 0;
            result = get_list(loader, entry.value, key, &actions, &action_count);
            rule->actions = 0;
            for (size_t j = 0; j < action_count && result == 0; j++) {
                const char *action = actions[j];
                if (strcmp(action, "pull") == 0)
                    rule->actions |= ACCESS_PULL;
                else if (strcmp(action, "push") == 0)
                    rule->actions |= ACCESS_PUSH;
                else if (strcmp(action, "delete") == 0)
                    rule->actions |= ACCESS_DELETE;
                else if (strcmp(action, "catalog") == 0)
                    rule->actions |= ACCESS_CATALOG;
                else if (strcmp(action, "*") == 0)
                    rule->actions |= ACCESS_PULL | ACCESS_PUSH | ACCESS_DELETE | ACCESS_CATALOG;
                else {
                    const yaml_node_t *item = list_item_node(loader, entry.value, j, key, item_key);
                    result = fail(loader, item, item_key,
                                  "expected pull, push, delete, catalog or *, got %s",
                                  shown(item, buffer));
                }
            }
            free_list(actions, action_count);
        } else
            result = fail(loader, entry.key, key,
                          "unknown key (a rule has subjects, repositories and actions)");
    }
    for (size_t i = 0; i < 3 && result == 0; i++) {
        size_t items = i == 0 ? rule->subject_count : i == 1 ? rule->repository_count : 1;
        if (seen[i] == NULL || is_null(seen[i]) || items == 0)
            result = fail(loader, seen[i] != NULL ? seen[i] : node, parent, "%s: %s", required[i],
                          seen[i] == NULL ? "missing" : "must not be empty");
    }
    return result;
}

static int load_access(struct loader *loader, yaml_node_t *node, const char *parent)
{
    struct config *config = loader->config;
    size_t count;
    int result = sequence_open(loader, node, parent, "rules", &count);
    if (result < 0 || count == 0)
        return result;
    config->access_rules = calloc(count, sizeof *config->access_rules);
    if (config->access_rules == NULL)
        return out_of_memory();
    for (size_t i = 0; i < count && result == 0; i++) {
        char key[KEY_MAX];
        yaml_node_t *item = sequence_entry(loader, node, i, parent, key);
        result = load_rule(loader, item, key, &config->access_rules[config->access_rule_count++]);
    }
    return result;
}

static int load_login_limits(struct loader *loader, yaml_node_t *node, const char *parent)
{
    struct login_limit_settings *limits = &loader->config->login_limits;
    size_t count;
    int result = mapping_open(loader, node, parent, &count);
    for (size_t i = 0; i < count && result == 0; i++) {
        struct entry entry;
        char key[KEY_MAX];
        mapping_entry(loader, node, i, &entry);
        join_key(key, parent, entry.name);
        if (strcmp(entry.name, "enabled") == 0)
            result = get_bool(loader, entry.value, key, &limits->enabled);
        else if (strcmp(entry.name, "address_failures") == 0)
            result = get_count(loader, entry.value, key, 1, 1000000, &limits->address_failures);
        else if (strcmp(entry.name, "user_failures") == 0)
            result = get_count(loader, entry.value, key, 1, 1000000, &limits->user_failures);
        else if (strcmp(entry.name, "window") == 0)
            result = get_duration(loader, entry.value, key, 1, 1, &limits->window_seconds);
        else
            result = fail(loader, entry.key, key,
                          "unknown key (login_limits has enabled, address_failures, "
                          "user_failures and window)");
    }
    return result;
}

/* ---- proxy: and cairn.mirrors (drivers/upstream.h) ---- */

/* An upstream URL: http(s)://host[:port], no path (one trailing '/' is dropped). */
static int get_upstream_url(struct loader *loader, const yaml_node_t *node, const char *key,
                            char **out)
{
    char buffer[96];
    int result = get_string(loader, node, key, out);
    if (result < 0 || *out == NULL)
        return result;
    char *url = *out;
    size_t length = strlen(url);
    if (length > 0 && url[length - 1] == '/')
        url[--length] = '\0';
    const char *host = strncmp(url, "https://", 8) == 0  ? url + 8
                       : strncmp(url, "http://", 7) == 0 ? url + 7
                                                         : NULL;
    if (host == NULL || host[0] == '\0' || host[0] == ':' || strchr(host, '/') != NULL ||
        strpbrk(host, " \t?#@") != NULL)
        return fail(loader, node, key,
                    "expected an http:// or https:// URL without a path, such as "
                    "https://registry-1.docker.io, got %s",
                    shown(node, buffer));
    return 0;
}

static struct upstream_settings *add_mirror(struct loader *loader)
{
    struct config *config = loader->config;
    struct upstream_settings *grown =
        realloc(config->mirrors, (config->mirror_count + 1) * sizeof *grown);
    if (grown == NULL)
        return NULL;
    config->mirrors = grown;
    struct upstream_settings *mirror = &grown[config->mirror_count++];
    memset(mirror, 0, sizeof *mirror);
    mirror->ttl_seconds = CONFIG_DEFAULT_MIRROR_TTL_SECONDS;
    mirror->evict_after_seconds = CONFIG_DEFAULT_MIRROR_EVICT_AFTER_SECONDS;
    return mirror;
}

/* What every upstream needs, whichever section named it. */
static int check_upstream(struct loader *loader, const yaml_node_t *node, const char *key,
                          const struct upstream_settings *mirror)
{
    if (mirror->url == NULL)
        return fail(loader, node, key, "%s is required",
                    mirror->prefix[0] == '\0' ? "remoteurl" : "url");
    if ((mirror->username == NULL) != (mirror->password == NULL))
        return fail(loader, node, key, "username and password go together (one is missing)");
    if (mirror->credentials_file != NULL && mirror->username != NULL)
        return fail(loader, node, key, "credentials_file or username and password, not both");
    return 0;
}

static int load_proxy(struct loader *loader, yaml_node_t *node)
{
    size_t count;
    int result = mapping_open(loader, node, "proxy", &count);
    if (result < 0 || count == 0)
        return result;
    struct upstream_settings *mirror = add_mirror(loader);
    if (mirror == NULL || (mirror->prefix = strdup("")) == NULL)
        return out_of_memory();
    for (size_t i = 0; i < count && result == 0; i++) {
        struct entry entry;
        char key[KEY_MAX];
        mapping_entry(loader, node, i, &entry);
        join_key(key, "proxy", entry.name);
        if (strcmp(entry.name, "remoteurl") == 0)
            result = get_upstream_url(loader, entry.value, key, &mirror->url);
        else if (strcmp(entry.name, "username") == 0)
            result = get_string(loader, entry.value, key, &mirror->username);
        else if (strcmp(entry.name, "password") == 0)
            result = get_string(loader, entry.value, key, &mirror->password);
        else if (strcmp(entry.name, "ttl") == 0)
            /* Distribution's proxy.ttl is how long cached content stays
             * (0: for ever); cairn-gc evicts by it. Tags are checked upstream
             * after CONFIG_DEFAULT_MIRROR_TTL_SECONDS. */
            result = get_duration(loader, entry.value, key, 0, 0, &mirror->evict_after_seconds);
        else
            result = ignore(loader, &entry, key, 0);
    }
    if (result == 0)
        result = check_upstream(loader, node, "proxy", mirror);
    return result;
}

static int load_mirror(struct loader *loader, yaml_node_t *node, const char *parent)
{
    char buffer[96];
    if (node->type != YAML_MAPPING_NODE)
        return fail(loader, node, parent, "expected a mapping with prefix and url, got %s",
                    shown(node, buffer));
    struct upstream_settings *mirror = add_mirror(loader);
    if (mirror == NULL)
        return out_of_memory();
    size_t count;
    int result = mapping_open(loader, node, parent, &count);
    for (size_t i = 0; i < count && result == 0; i++) {
        struct entry entry;
        char key[KEY_MAX];
        mapping_entry(loader, node, i, &entry);
        join_key(key, parent, entry.name);
        if (strcmp(entry.name, "prefix") == 0) {
            result = get_string(loader, entry.value, key, &mirror->prefix);
            if (result == 0 && mirror->prefix != NULL &&
                repository_name_validate(mirror->prefix, strlen(mirror->prefix)) < 0)
                result = fail(loader, entry.value, key,
                              "expected a repository name such as hub or mirror/ghcr, got %s",
                              shown(entry.value, buffer));
        } else if (strcmp(entry.name, "url") == 0)
            result = get_upstream_url(loader, entry.value, key, &mirror->url);
        else if (strcmp(entry.name, "username") == 0)
            result = get_string(loader, entry.value, key, &mirror->username);
        else if (strcmp(entry.name, "password") == 0)
            result = get_string(loader, entry.value, key, &mirror->password);
        else if (strcmp(entry.name, "credentials_file") == 0)
            result = get_string(loader, entry.value, key, &mirror->credentials_file);
        else if (strcmp(entry.name, "ca_bundle") == 0)
            result = get_string(loader, entry.value, key, &mirror->ca_bundle);
        else if (strcmp(entry.name, "ttl") == 0)
            result = get_duration(loader, entry.value, key, 1, 0, &mirror->ttl_seconds);
        else if (strcmp(entry.name, "evict_after") == 0)
            result = get_duration(loader, entry.value, key, 0, 0, &mirror->evict_after_seconds);
        else if (strcmp(entry.name, "hosts") == 0)
            result = get_list(loader, entry.value, key, &mirror->hosts, &mirror->host_count);
        else
            result = fail(loader, entry.key, key,
                          "unknown key (a mirror has prefix, url, username, password, "
                          "credentials_file, ca_bundle, ttl, evict_after and hosts)");
    }
    if (result == 0 && mirror->prefix == NULL)
        result = fail(loader, node, parent, "prefix is required");
    if (result == 0)
        result = check_upstream(loader, node, parent, mirror);
    return result;
}

static int load_mirrors(struct loader *loader, yaml_node_t *node, const char *parent)
{
    size_t count;
    int result = sequence_open(loader, node, parent, "mirrors", &count);
    for (size_t i = 0; i < count && result == 0; i++) {
        char key[KEY_MAX];
        yaml_node_t *item = sequence_entry(loader, node, i, parent, key);
        result = load_mirror(loader, item, key);
        /* One prefix may not hold another: a name has one upstream. */
        const struct config *config = loader->config;
        const char *mine = config->mirrors[config->mirror_count - 1].prefix;
        for (size_t j = 0; j + 1 < config->mirror_count && result == 0; j++) {
            const char *other = config->mirrors[j].prefix;
            size_t shorter = strlen(mine) < strlen(other) ? strlen(mine) : strlen(other);
            if (other[0] != '\0' && strncmp(mine, other, shorter) == 0 &&
                (mine[shorter] == '\0' || mine[shorter] == '/') &&
                (other[shorter] == '\0' || other[shorter] == '/'))
                result = fail(loader, item, key,
                              "prefix \"%.100s\" overlaps the prefix \"%.100s\" of another "
                              "mirror",
                              mine, other);
        }
    }
    return result;
}

/* ---- notifications: and cairn.events (src/observe/event_settings.h) ---- */

/* A duration kept to the millisecond, at least `minimum` (Distribution's
 * endpoint timeout and backoff). */
static int get_duration_milliseconds(struct loader *loader, const yaml_node_t *node,
                                     const char *key, uint64_t minimum, uint64_t *out)
{
    char buffer[96];
    const char *text = NULL;
    if (is_null(node))
        return 0;
    int result = scalar_text(loader, node, key, "a duration such as 500ms, 1s or 1m", &text);
    if (result < 0)
        return result;
    uint64_t milliseconds = 0;
    if (config_parse_duration_milliseconds(text, &milliseconds) < 0) {
        char reason[ERROR_MESSAGE_MAX];
        snprintf(reason, sizeof reason, "%s", error_message());
        return fail(loader, node, key, "%s", reason);
    }
    if (milliseconds < minimum)
        return fail(loader, node, key, "must be at least %llums, got %s",
                    (unsigned long long)minimum, shown(node, buffer));
    *out = milliseconds;
    return 0;
}

/* Moves the strings of `items` to the end of `*list` (which takes them). */
static int append_list(char ***list, size_t *count, char **items, size_t item_count)
{
    if (item_count == 0) {
        free(items);
        return 0;
    }
    char **grown = realloc(*list, (*count + item_count) * sizeof *grown);
    if (grown == NULL) {
        free_list(items, item_count);
        return out_of_memory();
    }
    memcpy(grown + *count, items, item_count * sizeof *items);
    *list = grown;
    *count += item_count;
    free(items);
    return 0;
}

/* A webhook URL: http(s)://[userinfo@]host[:port][/path][?query], without
 * blanks or control characters (a path is allowed, unlike a mirror's). */
static int get_event_url(struct loader *loader, const yaml_node_t *node, const char *key,
                         char **out)
{
    char buffer[96];
    int result = get_string(loader, node, key, out);
    if (result < 0 || *out == NULL)
        return result;
    const char *url = *out;
    const char *authority = strncmp(url, "https://", 8) == 0  ? url + 8
                            : strncmp(url, "http://", 7) == 0 ? url + 7
                                                              : NULL;
    int valid = authority != NULL;
    for (const unsigned char *c = (const unsigned char *)url; valid && *c != '\0'; c++)
        if (*c <= ' ' || *c == 0x7f)
            valid = 0;
    if (valid) {
        size_t length = strcspn(authority, "/?#");
        const char *host = authority, *end = authority + length;
        for (const char *c = authority; c < end; c++)
            if (*c == '@')
                host = c + 1;
        const char *port = NULL;
        if (host < end && *host == '[') {
            const char *close = memchr(host, ']', (size_t)(end - host));
            valid = close != NULL && close > host + 1 && (close + 1 == end || close[1] == ':');
            port = valid && close + 1 < end ? close + 2 : NULL;
        } else {
            const char *colon = memchr(host, ':', (size_t)(end - host));
            valid = host < end && colon != host;
            port = colon != NULL ? colon + 1 : NULL;
        }
        if (valid && port != NULL) {
            unsigned long number = 0;
            const char *c = port;
            for (; c < end && *c >= '0' && *c <= '9' && number <= 65535; c++)
                number = number * 10 + (unsigned long)(*c - '0');
            valid = c == end && c > port && number >= 1 && number <= 65535;
        }
    }
    if (!valid)
        return fail(loader, node, key,
                    "expected an http:// or https:// URL with a host, such as "
                    "https://hooks.example.com/registry, got %s",
                    shown(node, buffer));
    return 0;
}

/* HTTP's token characters (RFC 9110 5.6.2): what a header name is made of. */
static int valid_header_name(const char *text)
{
    if (text[0] == '\0')
        return 0;
    for (const char *c = text; *c != '\0'; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr("!#$%&'*+-.^_`|~", *c) != NULL))
            return 0;
    return 1;
}

/* .headers: {Name: [value, ...]} (or Name: value); a name with no value is
 * not sent, as in Distribution. */
static int load_event_headers(struct loader *loader, yaml_node_t *node, const char *parent,
                              struct event_endpoint_settings *endpoint)
{
    size_t count;
    int result = mapping_open(loader, node, parent, &count);
    for (size_t i = 0; i < count && result == 0; i++) {
        struct entry entry;
        char key[KEY_MAX];
        mapping_entry(loader, node, i, &entry);
        join_key(key, parent, entry.name);
        if (!valid_header_name(entry.name)) {
            result = fail(loader, entry.key, key,
                          "a header name is letters, digits and !#$%%&'*+-.^_`|~ only");
            break;
        }
        char **values = NULL;
        size_t value_count = 0;
        result = get_list(loader, entry.value, key, &values, &value_count);
        for (size_t j = 0; j < value_count && result == 0; j++)
            for (const unsigned char *c = (const unsigned char *)values[j]; *c != '\0'; c++)
                if ((*c < ' ' && *c != '\t') || *c == 0x7f) {
                    char item_key[KEY_MAX];
                    result = fail(loader, list_item_node(loader, entry.value, j, key, item_key),
                                  item_key,
                                  "a header value cannot hold a line break (CR, LF) or another "
                                  "control character");
                    break;
                }
        if (result < 0 || value_count == 0) {
            free_list(values, value_count);
            continue;
        }
        struct event_header *grown =
            realloc(endpoint->headers, (endpoint->header_count + 1) * sizeof *grown);
        if (grown == NULL) {
            free_list(values, value_count);
            return out_of_memory();
        }
        endpoint->headers = grown;
        struct event_header *header = &grown[endpoint->header_count++];
        header->values = values;
        header->value_count = value_count;
        if ((header->name = strdup(entry.name)) == NULL)
            result = out_of_memory();
    }
    return result;
}

static const char *const event_actions[] = {"pull", "push", "mount", "delete", NULL};

/* .ignore: mediatypes (added to ignoredmediatypes) and actions. */
static int load_event_ignore(struct loader *loader, yaml_node_t *node, const char *parent,
                             struct event_endpoint_settings *endpoint)
{
    size_t count;
    int result = mapping_open(loader, node, parent, &count);
    for (size_t i = 0; i < count && result == 0; i++) {
        struct entry entry;
        char key[KEY_MAX], buffer[96];
        mapping_entry(loader, node, i, &entry);
        join_key(key, parent, entry.name);
        char **items = NULL;
        size_t item_count = 0;
        int media_types = strcmp(entry.name, "mediatypes") == 0;
        if (!media_types && strcmp(entry.name, "actions") != 0) {
            result =
                fail(loader, entry.key, key, "unknown key (ignore has mediatypes and actions)");
            break;
        }
        result = get_list(loader, entry.value, key, &items, &item_count);
        for (size_t j = 0; j < item_count && result == 0 && !media_types; j++)
            if (!in_list(items[j], event_actions)) {
                char item_key[KEY_MAX];
                const yaml_node_t *item = list_item_node(loader, entry.value, j, key, item_key);
                result = fail(loader, item, item_key,
                              "expected pull, push, mount or delete, got %s", shown(item, buffer));
            }
        if (result < 0)
            free_list(items, item_count);
        else if (media_types)
            result = append_list(&endpoint->ignored_media_types,
                                 &endpoint->ignored_media_type_count, items, item_count);
        else
            result = append_list(&endpoint->ignored_actions, &endpoint->ignored_action_count, items,
                                 item_count);
    }
    return result;
}

/* .secret_file: the secret is the file's first line (without its line end). */
static int read_secret_file(struct loader *loader, const yaml_node_t *node, const char *key,
                            const char *path, char **out)
{
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return fail(loader, node, key, "cannot open %.200s: %s", path, strerror(errno));
    char *line = NULL;
    size_t capacity = 0;
    errno = 0;
    ssize_t length = getline(&line, &capacity, file);
    int error = errno;
    int failed = ferror(file);
    fclose(file);
    int result = 0;
    if (length < 0 && (failed || error == ENOMEM))
        result = error == ENOMEM ? out_of_memory()
                                 : fail(loader, node, key, "cannot read %.200s: %s", path,
                                        strerror(error != 0 ? error : EIO));
    else {
        if (length < 0)
            length = 0;
        if (length > 0 && line[length - 1] == '\n')
            line[--length] = '\0';
        if (length > 0 && line[length - 1] == '\r')
            line[--length] = '\0';
        if (length == 0)
            result = fail(loader, node, key, "the first line of %.200s is empty: no secret", path);
        else if (strlen(line) != (size_t)length)
            result = fail(loader, node, key, "the first line of %.200s holds a NUL byte", path);
    }
    if (result < 0) {
        free(line);
        return result;
    }
    free(*out);
    *out = line;
    return 0;
}

static struct event_endpoint_settings *add_event_endpoint(struct loader *loader)
{
    struct event_settings *events = &loader->config->events;
    struct event_endpoint_settings *grown =
        realloc(events->endpoints, (events->endpoint_count + 1) * sizeof *grown);
    if (grown == NULL)
        return NULL;
    events->endpoints = grown;
    struct event_endpoint_settings *endpoint = &grown[events->endpoint_count++];
    memset(endpoint, 0, sizeof *endpoint);
    endpoint->timeout_milliseconds = CONFIG_DEFAULT_EVENT_TIMEOUT_MILLISECONDS;
    endpoint->threshold = CONFIG_DEFAULT_EVENT_THRESHOLD;
    endpoint->backoff_milliseconds = CONFIG_DEFAULT_EVENT_BACKOFF_MILLISECONDS;
    return endpoint;
}

static int load_event_endpoint(struct loader *loader, yaml_node_t *node, const char *parent)
{
    char buffer[96];
    if (node->type != YAML_MAPPING_NODE)
        return fail(loader, node, parent, "expected a mapping with name and url, got %s",
                    shown(node, buffer));
    struct event_endpoint_settings *endpoint = add_event_endpoint(loader);
    if (endpoint == NULL)
        return out_of_memory();
    const yaml_node_t *secret_node = NULL, *secret_file_node = NULL;
    char *secret_file = NULL;
    char secret_file_key[KEY_MAX] = "";
    size_t count;
    int result = mapping_open(loader, node, parent, &count);
    for (size_t i = 0; i < count && result == 0; i++) {
        struct entry entry;
        char key[KEY_MAX];
        mapping_entry(loader, node, i, &entry);
        join_key(key, parent, entry.name);
        if (strcmp(entry.name, "name") == 0) {
            result = get_string(loader, entry.value, key, &endpoint->name);
            for (const unsigned char *c = (const unsigned char *)endpoint->name;
                 result == 0 && c != NULL && *c != '\0'; c++)
                if (*c < ' ' || *c == 0x7f)
                    result = fail(loader, entry.value, key, "a name has no control characters");
        } else if (strcmp(entry.name, "disabled") == 0)
            result = get_bool(loader, entry.value, key, &endpoint->disabled);
        else if (strcmp(entry.name, "url") == 0)
            result = get_event_url(loader, entry.value, key, &endpoint->url);
        else if (strcmp(entry.name, "headers") == 0)
            result = load_event_headers(loader, entry.value, key, endpoint);
        /* As in Distribution, 0 is the default (notifications/endpoint.go). */
        else if (strcmp(entry.name, "timeout") == 0) {
            result = get_duration_milliseconds(loader, entry.value, key, 0,
                                               &endpoint->timeout_milliseconds);
            if (endpoint->timeout_milliseconds == 0)
                endpoint->timeout_milliseconds = CONFIG_DEFAULT_EVENT_TIMEOUT_MILLISECONDS;
        } else if (strcmp(entry.name, "threshold") == 0) {
            result = get_count(loader, entry.value, key, 0, 1000000, &endpoint->threshold);
            if (endpoint->threshold == 0)
                endpoint->threshold = CONFIG_DEFAULT_EVENT_THRESHOLD;
        } else if (strcmp(entry.name, "backoff") == 0) {
            result = get_duration_milliseconds(loader, entry.value, key, 0,
                                               &endpoint->backoff_milliseconds);
            if (endpoint->backoff_milliseconds == 0)
                endpoint->backoff_milliseconds = CONFIG_DEFAULT_EVENT_BACKOFF_MILLISECONDS;
        } else if (strcmp(entry.name, "ignoredmediatypes") == 0) {
            char **items = NULL;
            size_t item_count = 0;
            result = get_list(loader, entry.value, key, &items, &item_count);
            if (result == 0)
                result = append_list(&endpoint->ignored_media_types,
                                     &endpoint->ignored_media_type_count, items, item_count);
        } else if (strcmp(entry.name, "ignore") == 0)
            result = load_event_ignore(loader, entry.value, key, endpoint);
        else if (strcmp(entry.name, "repositories") == 0) {
            result = get_list(loader, entry.value, key, &endpoint->repositories,
                              &endpoint->repository_count);
            if (result == 0 && !is_null(entry.value) && endpoint->repository_count == 0)
                result = fail(loader, entry.value, key,
                              "must not be empty (leave it out for every repository)");
            for (size_t j = 0; j < endpoint->repository_count && result == 0; j++) {
                int match = access_pattern_match(endpoint->repositories[j], "");
                if (match == -ENOMEM)
                    result = out_of_memory();
                else if (match < 0) {
                    char item_key[KEY_MAX], reason[ERROR_MESSAGE_MAX];
                    snprintf(reason, sizeof reason, "%s", error_message());
                    result = fail(loader, list_item_node(loader, entry.value, j, key, item_key),
                                  item_key, "%s", reason);
                }
            }
        } else if (strcmp(entry.name, "secret") == 0) {
            secret_node = is_null(entry.value) ? NULL : entry.value;
            result = get_string(loader, entry.value, key, &endpoint->secret);
        } else if (strcmp(entry.name, "secret_file") == 0) {
            secret_file_node = is_null(entry.value) ? NULL : entry.value;
            snprintf(secret_file_key, sizeof secret_file_key, "%s", key);
            result = get_string(loader, entry.value, key, &secret_file);
        } else
            result = fail(loader, entry.key, key,
                          "unknown key (an endpoint has name, disabled, url, headers, timeout, "
                          "threshold, backoff, ignoredmediatypes, ignore, and cairn's "
                          "repositories, secret and secret_file)");
    }
    if (result == 0 && endpoint->name == NULL)
        result = fail(loader, node, parent, "name is required");
    if (result == 0 && endpoint->url == NULL)
        result = fail(loader, node, parent, "url is required");
    if (result == 0 && secret_node != NULL && secret_file_node != NULL)
        result = fail(loader, node, parent, "secret or secret_file, not both");
    if (result == 0 && secret_file != NULL)
        result = read_secret_file(loader, secret_file_node, secret_file_key, secret_file,
                                  &endpoint->secret);
    free(secret_file);
    return result;
}

static int load_event_endpoints(struct loader *loader, yaml_node_t *node, const char *parent)
{
    size_t count;
    int result = sequence_open(loader, node, parent, "endpoints", &count);
    for (size_t i = 0; i < count && result == 0; i++) {
        char key[KEY_MAX];
        yaml_node_t *item = sequence_entry(loader, node, i, parent, key);
        result = load_event_endpoint(loader, item, key);
        const struct event_settings *events = &loader->config->events;
        const char *mine = result == 0 ? events->endpoints[events->endpoint_count - 1].name : "";
        for (size_t j = 0; j + 1 < events->endpoint_count && result == 0; j++)
            if (strcmp(events->endpoints[j].name, mine) == 0) {
                char other[KEY_MAX];
                index_key(other, parent, j);
                result = fail(loader, item, key,
                              "the name \"%.100s\" is already the name of %s (names are unique)",
                              mine, other);
            }
    }
    return result;
}

static int load_notifications(struct loader *loader, yaml_node_t *node)
{
    size_t count;
    int result = mapping_open(loader, node, "notifications", &count);
    for (size_t i = 0; i < count && result == 0; i++) {
        struct entry entry;
        char key[KEY_MAX];
        mapping_entry(loader, node, i, &entry);
        join_key(key, "notifications", entry.name);
        if (strcmp(entry.name, "endpoints") == 0)
            result = load_event_endpoints(loader, entry.value, key);
        else if (strcmp(entry.name, "events") == 0) {
            size_t events_count;
            result = mapping_open(loader, entry.value, key, &events_count);
            for (size_t j = 0; j < events_count && result == 0; j++) {
                struct entry setting;
                char setting_key[KEY_MAX];
                mapping_entry(loader, entry.value, j, &setting);
                join_key(setting_key, key, setting.name);
                if (strcmp(setting.name, "includereferences") == 0)
                    result = get_bool(loader, setting.value, setting_key,
                                      &loader->config->events.include_references);
                else
                    result = fail(loader, setting.key, setting_key,
                                  "unknown key (notifications.events has includereferences)");
            }
        } else
            result = fail(loader, entry.key, key,
                          "unknown key (notifications has events and endpoints)");
    }
    return result;
}

/* cairn.events: the spool of undelivered events. */
static int load_cairn_events(struct loader *loader, yaml_node_t *node, const char *parent)
{
    struct event_settings *events = &loader->config->events;
    size_t count;
    int result = mapping_open(loader, node, parent, &count);
    for (size_t i = 0; i < count && result == 0; i++) {
        struct entry entry;
        char key[KEY_MAX];
        mapping_entry(loader, node, i, &entry);
        join_key(key, parent, entry.name);
        if (strcmp(entry.name, "spool") == 0)
            result = get_string(loader, entry.value, key, &events->spool_directory);
        else if (strcmp(entry.name, "max_bytes") == 0)
            result = get_size(loader, entry.value, key, 1, &events->spool_max_bytes);
        else if (strcmp(entry.name, "max_age") == 0)
            result = get_duration(loader, entry.value, key, 1, 0, &events->spool_max_age_seconds);
        else
            result = fail(loader, entry.key, key,
                          "unknown key (cairn.events has spool, max_bytes and max_age)");
    }
    return result;
}

static int load_cairn(struct loader *loader, yaml_node_t *node)
{
    struct config *config = loader->config;
    size_t count;
    int result = mapping_open(loader, node, "cairn", &count);
    /* Groups before the rules that name them, wherever they are in the file. */
    for (size_t i = 0; i < count && result == 0; i++) {
        struct entry entry;
        char key[KEY_MAX];
        mapping_entry(loader, node, i, &entry);
        join_key(key, "cairn", entry.name);
        if (strcmp(entry.name, "threads") == 0)
            result = get_count(loader, entry.value, key, 1, CONFIG_THREADS_MAX, &config->threads);
        else if (strcmp(entry.name, "workers") == 0)
            result = get_count(loader, entry.value, key, 1, CONFIG_WORKERS_MAX, &config->workers);
        else if (strcmp(entry.name, "login_workers") == 0)
            result =
                get_count(loader, entry.value, key, 1, CONFIG_WORKERS_MAX, &config->login_workers);
        else if (strcmp(entry.name, "login_queue") == 0)
            result = get_count(loader, entry.value, key, 1, 1u << 20, &config->login_queue);
        else if (strcmp(entry.name, "login_limits") == 0)
            result = load_login_limits(loader, entry.value, key);
        else if (strcmp(entry.name, "max_body_size") == 0)
            result = get_size(loader, entry.value, key, 1, &config->max_body_size);
        else if (strcmp(entry.name, "body_temporary_directory") == 0)
            result = get_string(loader, entry.value, key, &config->body_temporary_directory);
        else if (strcmp(entry.name, "request_timeout") == 0)
            result = get_duration(loader, entry.value, key, 1, 1, &config->request_timeout_seconds);
        else if (strcmp(entry.name, "shutdown_grace") == 0)
            result = get_duration(loader, entry.value, key, 1, 0, &config->shutdown_grace_seconds);
        else if (strcmp(entry.name, "anonymous_pull") == 0)
            result = get_bool(loader, entry.value, key, &config->anonymous_pull);
        else if (strcmp(entry.name, "automatic_mount") == 0)
            result = get_bool(loader, entry.value, key, &config->automatic_mount);
        else if (strcmp(entry.name, "groups") == 0)
            result = load_groups(loader, entry.value, key);
        else if (strcmp(entry.name, "mirrors") == 0)
            result = load_mirrors(loader, entry.value, key);
        else if (strcmp(entry.name, "events") == 0)
            result = load_cairn_events(loader, entry.value, key);
        else if (strcmp(entry.name, "access") != 0)
            result = fail(loader, entry.key, key,
                          "unknown key (cairn's keys are threads, workers, login_workers, "
                          "login_queue, login_limits, max_body_size, "
                          "body_temporary_directory, request_timeout, shutdown_grace, "
                          "anonymous_pull, automatic_mount, groups, mirrors, events and "
                          "access)");
    }
    for (size_t i = 0; i < count && result == 0; i++) {
        struct entry entry;
        mapping_entry(loader, node, i, &entry);
        if (strcmp(entry.name, "access") == 0) {
            loader->access_node = entry.key;
            result = load_access(loader, entry.value, "cairn.access");
        }
    }
    return result;
}

static int load_root(struct loader *loader, yaml_node_t *node)
{
    static const char *const known[] = {"loglevel",      "middleware", "reporting", "redis",
                                        "health",        "validation", "catalog",   "policy",
                                        "compatibility", NULL};
    char buffer[96];
    if (is_null(node))
        return 0;
    if (node->type != YAML_MAPPING_NODE)
        return error_set(-EINVAL,
                         "%s:%lu: expected a mapping of sections (version, storage, "
                         "http, ...), got %s",
                         loader->path, line_of(node), shown(node, buffer));
    size_t count;
    int result = mapping_open(loader, node, "", &count);
    for (size_t i = 0; i < count && result == 0; i++) {
        struct entry entry;
        mapping_entry(loader, node, i, &entry);
        if (strcmp(entry.name, "version") == 0)
            result = load_version(loader, entry.value);
        else if (strcmp(entry.name, "log") == 0)
            result = load_log(loader, entry.value);
        else if (strcmp(entry.name, "storage") == 0)
            result = load_storage(loader, entry.value);
        else if (strcmp(entry.name, "http") == 0)
            result = load_http(loader, entry.value);
        else if (strcmp(entry.name, "auth") == 0)
            result = load_auth(loader, entry.value);
        else if (strcmp(entry.name, "cairn") == 0)
            result = load_cairn(loader, entry.value);
        else if (strcmp(entry.name, "proxy") == 0)
            result = load_proxy(loader, entry.value);
        else if (strcmp(entry.name, "notifications") == 0)
            result = load_notifications(loader, entry.value);
        else
            result = ignore(loader, &entry, entry.name, in_list(entry.name, known));
    }
    return result;
}

/* What only the whole file can tell. */
static int check_together(struct loader *loader)
{
    struct config *config = loader->config;
    int result = 0;
    if (loader->htpasswd_node != NULL) {
        if (config->htpasswd_path == NULL)
            return fail(loader, loader->htpasswd_node, "auth.htpasswd", "path is required");
        if (config->htpasswd_realm == NULL &&
            (config->htpasswd_realm = strdup(CONFIG_DEFAULT_HTPASSWD_REALM)) == NULL)
            return out_of_memory();
    }
    if (loader->token_node != NULL) {
        static const char *const names[] = {"realm", "service", "issuer"};
        char *const values[] = {config->token_realm, config->token_service, config->token_issuer};
        for (size_t i = 0; i < 3; i++)
            if (values[i] == NULL)
                return fail(loader, loader->token_node, "auth.token", "%s is required", names[i]);
        if (config->token_root_certificate_bundle == NULL && config->token_jwks == NULL)
            return fail(loader, loader->token_node, "auth.token",
                        "rootcertbundle or jwks is required to verify tokens");
    }
    if (loader->tls_node != NULL) {
        if ((config->tls_certificate == NULL) != (config->tls_key == NULL))
            return fail(loader, loader->tls_node, "http.tls",
                        "certificate and key go together (one of them is missing)");
        if (config->tls_certificate == NULL && config->tls_client_ca_count > 0)
            return fail(loader, loader->tls_node, "http.tls",
                        "clientcas needs a certificate and key (mTLS is part of TLS)");
    }
    if (loader->dry_run_node != NULL) {
        config->upload_purging_enabled = 0;
        result = warn(loader, loader->dry_run_node,
                      "storage.maintenance.uploadpurging.dryrun: dry runs are not supported; "
                      "upload purging is disabled");
    }
    if (result == 0 && config->access_rule_count > 0 && loader->htpasswd_node == NULL &&
        loader->token_node == NULL && config->tls_client_ca_count == 0)
        result = warn(loader, loader->access_node,
                      "cairn.access has no effect: no authentication is configured (auth.htpasswd, "
                      "auth.token or http.tls.clientcas), so every request is allowed");
    return result;
}

/* ---- public ---- */

void config_defaults(struct config *config)
{
    memset(config, 0, sizeof *config);
    config->log_level = LOG_LEVEL_INFO;
    config->log_format = LOG_FORMAT_TEXT;
    config->access_log = 1;
    strcpy(config->root_directory, CONFIG_DEFAULT_ROOT_DIRECTORY);
    config->delete_enabled = 1;
    config->upload_purging_enabled = 1;
    config->upload_purging_age_seconds = CONFIG_DEFAULT_UPLOAD_PURGING_AGE_SECONDS;
    config->upload_purging_interval_seconds = CONFIG_DEFAULT_UPLOAD_PURGING_INTERVAL_SECONDS;
    strcpy(config->listen_address, CONFIG_DEFAULT_LISTEN_ADDRESS);
    config->tls_minimum_version = CONFIG_DEFAULT_TLS_MINIMUM_VERSION;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    config->threads = cores < 1                    ? 1
                      : cores > CONFIG_THREADS_MAX ? CONFIG_THREADS_MAX
                                                   : (unsigned)cores;
    config->workers = CONFIG_DEFAULT_WORKERS;
    config->login_workers = CONFIG_DEFAULT_LOGIN_WORKERS;
    config->login_queue = CONFIG_DEFAULT_LOGIN_QUEUE;
    config->login_limits = (struct login_limit_settings){
        .enabled = 1,
        .address_failures = CONFIG_DEFAULT_LOGIN_ADDRESS_FAILURES,
        .user_failures = CONFIG_DEFAULT_LOGIN_USER_FAILURES,
        .window_seconds = CONFIG_DEFAULT_LOGIN_WINDOW_SECONDS,
    };
    config->max_body_size = CONFIG_DEFAULT_MAX_BODY_SIZE;
    config->request_timeout_seconds = CONFIG_DEFAULT_REQUEST_TIMEOUT_SECONDS;
    config->shutdown_grace_seconds = CONFIG_DEFAULT_SHUTDOWN_GRACE_SECONDS;
    config->idle_timeout_seconds = CONFIG_DEFAULT_IDLE_TIMEOUT_SECONDS;
    config->header_timeout_seconds = CONFIG_DEFAULT_HEADER_TIMEOUT_SECONDS;
    config->http2_reset_block_seconds = CONFIG_DEFAULT_HTTP2_RESET_BLOCK_SECONDS;
    config->automatic_mount = 1;
    config->events.spool_max_bytes = CONFIG_DEFAULT_EVENT_SPOOL_MAX_BYTES;
    config->events.spool_max_age_seconds = CONFIG_DEFAULT_EVENT_SPOOL_MAX_AGE_SECONDS;
}

void config_release(struct config *config)
{
    free(config->source_path);
    free(config->tls_certificate);
    free(config->tls_key);
    free_list(config->tls_client_cas, config->tls_client_ca_count);
    free(config->tls_cipher_list);
    free(config->htpasswd_realm);
    free(config->htpasswd_path);
    free(config->token_realm);
    free(config->token_service);
    free(config->token_issuer);
    free(config->token_root_certificate_bundle);
    free(config->token_jwks);
    free(config->body_temporary_directory);
    for (size_t i = 0; i < config->group_count; i++) {
        free(config->groups[i].name);
        free_list(config->groups[i].members, config->groups[i].member_count);
    }
    free(config->groups);
    for (size_t i = 0; i < config->access_rule_count; i++) {
        free_list(config->access_rules[i].subjects, config->access_rules[i].subject_count);
        free_list(config->access_rules[i].repositories, config->access_rules[i].repository_count);
    }
    free(config->access_rules);
    for (size_t i = 0; i < config->mirror_count; i++)
        upstream_settings_release(&config->mirrors[i]);
    free(config->mirrors);
    event_settings_release(&config->events);
    free_list(config->warnings, config->warning_count);
    memset(config, 0, sizeof *config);
}

int config_load(const char *path, struct config *config)
{
    struct config building;
    struct loader loader = {.path = path, .config = &building};
    config_defaults(&building);

    FILE *file = fopen(path, "r");
    if (file == NULL) {
        int error = errno;
        return error_set(-error, "%s: cannot open: %s", path, strerror(error));
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        fclose(file);
        return out_of_memory();
    }
    yaml_parser_set_input_file(&parser, file);
    int result = 0;
    if (!yaml_parser_load(&parser, &loader.document)) {
        result = error_set(
            -EINVAL, "%s:%lu: %s%s%s", path, (unsigned long)parser.problem_mark.line + 1,
            parser.problem != NULL ? parser.problem : "not valid YAML",
            parser.context != NULL ? " " : "", parser.context != NULL ? parser.context : "");
        yaml_parser_delete(&parser);
        fclose(file);
        return result;
    }
    if (ferror(file)) {
        result = error_set(-EIO, "%s: cannot read", path);
    } else {
        /* A second document would be ignored by Distribution too, but
         * silently; say so. */
        yaml_document_t next;
        if (!yaml_parser_load(&parser, &next)) {
            result =
                error_set(-EINVAL, "%s:%lu: %s", path, (unsigned long)parser.problem_mark.line + 1,
                          parser.problem != NULL ? parser.problem : "not valid YAML");
        } else {
            yaml_node_t *second = yaml_document_get_root_node(&next);
            if (second != NULL)
                result = error_set(-EINVAL, "%s:%lu: only one YAML document is allowed", path,
                                   line_of(second));
            yaml_document_delete(&next);
        }
    }
    yaml_parser_delete(&parser);
    fclose(file);

    if (result == 0)
        result = load_root(&loader, yaml_document_get_root_node(&loader.document));
    if (result == 0)
        result = check_together(&loader);
    if (result == 0 && (building.source_path = strdup(path)) == NULL)
        result = out_of_memory();
    yaml_document_delete(&loader.document);
    if (result < 0) {
        config_release(&building);
        return result;
    }
    *config = building;
    return 0;
}

int config_parse_duration(const char *text, uint64_t *seconds_out)
{
    return duration_parse(text, seconds_out);
}

int config_parse_duration_milliseconds(const char *text, uint64_t *milliseconds_out)
{
    return duration_parse_milliseconds(text, milliseconds_out);
}

int config_parse_size(const char *text, uint64_t *bytes_out)
{
    static const struct {
        const char *name;
        uint64_t bytes;
    } units[] = {{"", 1},
                 {"B", 1},
                 {"kB", 1000},
                 {"KB", 1000},
                 {"MB", 1000 * 1000},
                 {"GB", 1000 * 1000 * 1000},
                 {"TB", 1000ULL * 1000 * 1000 * 1000},
                 {"KiB", 1ULL << 10},
                 {"MiB", 1ULL << 20},
                 {"GiB", 1ULL << 30},
                 {"TiB", 1ULL << 40}};
    const char *start = text;
    uint64_t value = 0;
    size_t digits = 0;
    for (; *text >= '0' && *text <= '9'; text++, digits++)
        if (__builtin_mul_overflow(value, 10, &value) ||
            __builtin_add_overflow(value, (uint64_t)(*text - '0'), &value))
            goto too_large;
    if (digits == 0)
        goto invalid;
    if (*text == ' ')
        text++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(text, units[i].name) != 0 || (i == 0 && text != start + digits))
            continue;
        if (__builtin_mul_overflow(value, units[i].bytes, &value) || value > (UINT64_MAX >> 1))
            goto too_large;
        *bytes_out = value;
        return 0;
    }
invalid:
    return error_set(-EINVAL,
                     "expected a size such as 1048576, 512MiB or 16GiB (units B, KB, MB, GB, "
                     "TB, KiB, MiB, GiB, TiB), got \"%.80s\"",
                     start);
too_large:
    return error_set(-EINVAL, "size too large: \"%.80s\"", start);
}

int config_split_address(const char *address, char *host, size_t host_size, char *port,
                         size_t port_size)
{
    const char *colon = strrchr(address, ':');
    if (colon == NULL)
        return error_set(-EINVAL,
                         "expected HOST:PORT (\":5000\", \"127.0.0.1:5000\", \"[::1]:5000\"), "
                         "got \"%.100s\"",
                         address);
    const char *host_start = address;
    size_t host_length = (size_t)(colon - address);
    if (host_length > 0 && host_start[0] == '[') {
        if (host_length < 2 || host_start[host_length - 1] != ']')
            return error_set(-EINVAL, "unbalanced brackets in \"%.100s\"", address);
        host_start++;
        host_length -= 2;
    } else if (memchr(host_start, ':', host_length) != NULL ||
               memchr(host_start, ']', host_length) != NULL) {
        return error_set(-EINVAL,
                         "an IPv6 address goes in brackets (\"[::1]:5000\"), got "
                         "\"%.100s\"",
                         address);
    }
    if (host_length >= host_size)
        return error_set(-EINVAL, "host too long in \"%.100s\"", address);
    const char *port_text = colon + 1;
    size_t port_length = strlen(port_text);
    unsigned long number = 0;
    for (size_t i = 0; i < port_length && number <= 65535; i++) {
        if (port_text[i] < '0' || port_text[i] > '9') {
            number = 0;
            break;
        }
        number = number * 10 + (unsigned long)(port_text[i] - '0');
    }
    if (port_length == 0 || number == 0 || number > 65535 || port_length >= port_size)
        return error_set(-EINVAL, "expected a port from 1 to 65535 in \"%.100s\"", address);
    memcpy(host, host_start, host_length);
    host[host_length] = '\0';
    memcpy(port, port_text, port_length + 1);
    return 0;
}
