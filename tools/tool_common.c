/* tools/tool_common.c — see tool_common.h. */
#include "tools/tool_common.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "drivers/fs.h"
#include "drivers/s3.h"
#include "drivers/s3_config.h"
#include "layout/duration.h"
#include "layout/error.h"

static int copy_root(const char *text, size_t length, char out[TREE_PATH_MAX])
{
    while (length > 1 && text[length - 1] == '/')
        length--;
    if (length == 0)
        return error_set(-EINVAL, "the root directory is empty");
    if (length >= TREE_PATH_MAX)
        return error_set(-ENAMETOOLONG, "the root directory is too long (%zu bytes)", length);
    if (memchr(text, '\0', length) != NULL)
        return error_set(-EINVAL, "the root directory contains a NUL byte");
    memcpy(out, text, length);
    out[length] = '\0';
    return 0;
}

/* The value node of `key` in mapping `node`, or NULL. */
static yaml_node_t *mapping_value(yaml_document_t *document, yaml_node_t *node, const char *key)
{
    if (node == NULL || node->type != YAML_MAPPING_NODE)
        return NULL;
    size_t key_length = strlen(key);
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *name = yaml_document_get_node(document, pair->key);
        if (name != NULL && name->type == YAML_SCALAR_NODE &&
            name->data.scalar.length == key_length &&
            memcmp(name->data.scalar.value, key, key_length) == 0)
            return yaml_document_get_node(document, pair->value);
    }
    return NULL;
}

static int is_null_scalar(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *text = (const char *)node->data.scalar.value;
    size_t length = node->data.scalar.length;
    return length == 0 || (length == 1 && text[0] == '~') ||
           (length == 4 && (memcmp(text, "null", 4) == 0 || memcmp(text, "Null", 4) == 0 ||
                            memcmp(text, "NULL", 4) == 0));
}

/* Parses the YAML file at `path` into `document` (delete it afterwards). */
static int load_document(const char *config_path, yaml_document_t *document)
{
    FILE *file = fopen(config_path, "rb");
    if (file == NULL) {
        int code = errno;
        return error_set(-code, "cannot open %s: %s", config_path, strerror(code));
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        fclose(file);
        return error_set(-ENOMEM, "cannot initialize the YAML parser");
    }
    yaml_parser_set_input_file(&parser, file);
    int result = 0;
    if (!yaml_parser_load(&parser, document))
        result = error_set(-EINVAL, "%s:%lu: %s", config_path,
                           (unsigned long)parser.problem_mark.line + 1,
                           parser.problem != NULL ? parser.problem : "not YAML");
    yaml_parser_delete(&parser);
    fclose(file);
    return result;
}

static int root_from_config(const char *config_path, char out[TREE_PATH_MAX])
{
    yaml_document_t document;
    int result = load_document(config_path, &document);
    if (result < 0)
        return result;
    yaml_node_t *top = yaml_document_get_root_node(&document);
    yaml_node_t *storage = mapping_value(&document, top, "storage");
    yaml_node_t *filesystem = mapping_value(&document, storage, "filesystem");
    yaml_node_t *root = mapping_value(&document, filesystem, "rootdirectory");
    if (root == NULL || is_null_scalar(root)) {
        result = copy_root(TOOL_DEFAULT_ROOT, strlen(TOOL_DEFAULT_ROOT), out);
    } else if (root->type != YAML_SCALAR_NODE) {
        result = error_set(-EINVAL, "%s:%lu: storage.filesystem.rootdirectory must be a path",
                           config_path, (unsigned long)root->start_mark.line + 1);
    } else {
        result = copy_root((const char *)root->data.scalar.value, root->data.scalar.length, out);
        if (result < 0)
            error_set(result, "%s:%lu: storage.filesystem.rootdirectory: %s", config_path,
                      (unsigned long)root->start_mark.line + 1, error_message());
    }
    yaml_document_delete(&document);
    return result;
}

int tool_blob_store_open(const char *config_path, const struct tree *tree,
                         struct blob_store **store_out)
{
    *store_out = NULL;
    if (config_path == NULL)
        return blob_store_fs_create(tree, store_out);
    yaml_document_t document;
    int result = load_document(config_path, &document);
    if (result < 0)
        return result;
    yaml_node_t *top = yaml_document_get_root_node(&document);
    yaml_node_t *storage = mapping_value(&document, top, "storage");
    yaml_node_t *s3 = mapping_value(&document, storage, "s3");
    if (s3 == NULL) {
        yaml_document_delete(&document);
        return blob_store_fs_create(tree, store_out);
    }
    struct s3_settings settings;
    const yaml_node_t *bad = s3;
    result = s3_config_read(&document, s3, &settings, &bad, NULL, NULL);
    if (result < 0)
        error_set(result, "%s:%lu: %s", config_path, (unsigned long)bad->start_mark.line + 1,
                  error_message());
    yaml_document_delete(&document);
    if (result == 0)
        result = blob_store_s3_create(tree, &settings, store_out);
    memset(settings.secret_key, 0, sizeof settings.secret_key);
    return result;
}

int tool_root_from_arguments(const char *root, const char *config_path, char out[TREE_PATH_MAX])
{
    if ((root == NULL) == (config_path == NULL))
        return error_set(-EINVAL, "give exactly one of --root DIR and --config FILE");
    if (root != NULL)
        return copy_root(root, strlen(root), out);
    return root_from_config(config_path, out);
}

int tool_parse_duration(const char *text, long long *seconds)
{
    if (text == NULL || *text == '\0')
        return error_set(-EINVAL, "expected a duration such as 90s, 15m, 168h or 1h30m");
    const char *digits = *text == '+' ? text + 1 : text;
    uint64_t value = 0;
    /* Plain digits: seconds (Go's "0" is the only unitless duration). */
    if (*digits != '\0' && strspn(digits, "0123456789") == strlen(digits)) {
        for (const char *c = digits; *c != '\0'; c++)
            if (__builtin_mul_overflow(value, 10, &value) ||
                __builtin_add_overflow(value, (uint64_t)(*c - '0'), &value))
                return error_set(-EINVAL, "duration too long: \"%.80s\"", text);
    } else if (duration_parse(text, &value) < 0) {
        return -EINVAL;
    }
    if (value > (uint64_t)INT64_MAX)
        return error_set(-EINVAL, "duration too long: \"%.80s\"", text);
    *seconds = (long long)value;
    return 0;
}

int tool_is_terminal(int fd)
{
    return isatty(fd) == 1;
}

double tool_seconds_between(const struct timespec *start, const struct timespec *end)
{
    return (double)(end->tv_sec - start->tv_sec) + (double)(end->tv_nsec - start->tv_nsec) / 1e9;
}

void tool_format_size(unsigned long long bytes, char out[32])
{
    static const char *const suffixes[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(out, 32, "%llu B", bytes);
        return;
    }
    double value = (double)bytes / 1024.0;
    size_t index = 0;
    while (value >= 1024.0 && index + 1 < sizeof suffixes / sizeof suffixes[0]) {
        value /= 1024.0;
        index++;
    }
    snprintf(out, 32, "%.1f %s", value, suffixes[index]);
}

void tool_json_print_string(FILE *stream, const char *text)
{
    fputc('"', stream);
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", stream);
            break;
        case '\\':
            fputs("\\\\", stream);
            break;
        case '\n':
            fputs("\\n", stream);
            break;
        case '\r':
            fputs("\\r", stream);
            break;
        case '\t':
            fputs("\\t", stream);
            break;
        default:
            if (*p < 0x20)
                fprintf(stream, "\\u%04x", *p);
            else
                fputc(*p, stream);
        }
    }
    fputc('"', stream);
}
