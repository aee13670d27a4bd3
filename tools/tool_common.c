/* tools/tool_common.c — see tool_common.h. */
#include "tools/tool_common.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "drivers/fs.h"
#include "drivers/s3.h"
#include "layout/duration.h"
#include "layout/error.h"
#include "src/config/runtime.h"

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

int tool_settings_from_arguments(const char *root, const char *config_path, struct config *config,
                                 char root_out[TREE_PATH_MAX])
{
    if ((root == NULL) == (config_path == NULL))
        return error_set(-EINVAL, "give exactly one of --root DIR and --config FILE");
    if (root != NULL) {
        config_defaults(config);
        return copy_root(root, strlen(root), root_out);
    }
    int result = runtime_check_file(config_path, config);
    if (result < 0)
        return result;
    if ((result = copy_root(config->root_directory, strlen(config->root_directory), root_out)) <
        0) {
        config_release(config);
        return error_set(result, "%s: storage.filesystem.rootdirectory: %s", config_path,
                         error_message());
    }
    return 0;
}

int tool_blob_store_open(const struct config *config, const struct tree *tree,
                         struct blob_store **store_out)
{
    *store_out = NULL;
    if (config->s3_enabled)
        return blob_store_s3_create(tree, &config->s3, store_out);
    return blob_store_fs_create(tree, store_out);
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
