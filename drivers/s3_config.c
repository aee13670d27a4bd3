/* drivers/s3_config.h */
#include "drivers/s3_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "layout/duration.h"
#include "layout/error.h"
#include "layout/object_key.h"

#define MEBIBYTE (1024 * 1024)

struct reader {
    yaml_document_t *document;
    const yaml_node_t **bad_node;
    const char *key; /* the key being read, for messages */
};

static int fail(struct reader *reader, const yaml_node_t *node, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct reader *reader, const yaml_node_t *node, const char *format, ...)
{
    char reason[400];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(reason, sizeof reason, format, arguments);
    va_end(arguments);
    *reader->bad_node = node;
    return error_set(-EINVAL, "storage.s3.%s: %s", reader->key, reason);
}

static int scalar(struct reader *reader, const yaml_node_t *node, const char **text)
{
    if (node->type != YAML_SCALAR_NODE)
        return fail(reader, node, "must be a single value");
    *text = (const char *)node->data.scalar.value;
    if (strlen(*text) != node->data.scalar.length)
        return fail(reader, node, "holds a NUL byte");
    return 0;
}

static int get_text(struct reader *reader, const yaml_node_t *node, char *out, size_t size)
{
    const char *text = NULL;
    int result = scalar(reader, node, &text);
    if (result < 0)
        return result;
    if (strlen(text) >= size)
        return fail(reader, node, "longer than %zu bytes", size - 1);
    for (const char *c = text; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return fail(reader, node, "holds a control character");
    strcpy(out, text);
    return 0;
}

static int get_bool(struct reader *reader, const yaml_node_t *node, int *out)
{
    const char *text = NULL;
    int result = scalar(reader, node, &text);
    if (result < 0)
        return result;
    if (strcasecmp(text, "true") == 0 || strcasecmp(text, "yes") == 0)
        *out = 1;
    else if (strcasecmp(text, "false") == 0 || strcasecmp(text, "no") == 0)
        *out = 0;
    else
        return fail(reader, node, "must be true or false");
    return 0;
}

static int get_integer(struct reader *reader, const yaml_node_t *node, long long minimum,
                       long long maximum, long long *out)
{
    const char *text = NULL;
    int result = scalar(reader, node, &text);
    if (result < 0)
        return result;
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || errno != 0 || value < minimum || value > maximum)
        return fail(reader, node, "must be a whole number from %lld to %lld", minimum, maximum);
    *out = value;
    return 0;
}

static int get_duration_ms(struct reader *reader, const yaml_node_t *node, uint64_t minimum,
                           uint64_t maximum, long *out)
{
    const char *text = NULL;
    uint64_t seconds;
    int result = scalar(reader, node, &text);
    if (result < 0)
        return result;
    if (duration_parse(text, &seconds) < 0)
        return fail(reader, node, "%s", error_message());
    if (seconds < minimum || seconds > maximum)
        return fail(reader, node, "must be from %llus to %llus", (unsigned long long)minimum,
                    (unsigned long long)maximum);
    *out = (long)(seconds * 1000);
    return 0;
}

static int endpoint_from(struct reader *reader, const yaml_node_t *node, const char *written,
                         int secure, const char *region, char out[512])
{
    int length;
    if (written[0] == '\0')
        length = snprintf(out, 512, "%s://s3.%s.amazonaws.com", secure ? "https" : "http", region);
    else if (strncmp(written, "http://", 7) == 0 || strncmp(written, "https://", 8) == 0)
        length = snprintf(out, 512, "%s", written);
    else if (strstr(written, "://") != NULL)
        return fail(reader, node, "only http:// and https:// endpoints are supported");
    else
        length = snprintf(out, 512, "%s://%s", secure ? "https" : "http", written);
    if (length < 0 || length >= 512)
        return fail(reader, node, "endpoint longer than 511 bytes");
    size_t end = strlen(out);
    while (end > 0 && out[end - 1] == '/')
        out[--end] = '\0';
    const char *host = strstr(out, "://") + 3;
    if (*host == '\0' || strpbrk(host, "/?#@ ") != NULL)
        return fail(reader, node, "must be a scheme and host[:port] without a path (got %.200s)",
                    written);
    return 0;
}

int s3_config_read(yaml_document_t *document, const yaml_node_t *node, struct s3_settings *settings,
                   const yaml_node_t **bad_node, s3_config_warn warn, void *context)
{
    static const char *const distribution_only[] = {"encrypt",
                                                    "keyid",
                                                    "v4auth",
                                                    "storageclass",
                                                    "useragent",
                                                    "usedualstack",
                                                    "accelerate",
                                                    "objectacl",
                                                    "loglevel",
                                                    "sessiontoken",
                                                    "credentialsconfigpath",
                                                    "multipartcopychunksize",
                                                    "multipartcopymaxconcurrency",
                                                    "multipartcopythresholdsize",
                                                    NULL};
    struct reader reader = {document, bad_node, ""};
    char endpoint_written[512] = "";
    const yaml_node_t *endpoint_node = node;
    int secure = 1, result = 0;
    long long number;

    s3_settings_defaults(settings);
    settings->path_style = 0; /* Distribution's forcepathstyle default */
    if (node->type == YAML_SCALAR_NODE && node->data.scalar.length == 0)
        node = NULL; /* "s3:" with nothing under it: every key from defaults */
    else if (node->type != YAML_MAPPING_NODE) {
        reader.key = "";
        *bad_node = node;
        return error_set(-EINVAL, "storage.s3: must be a mapping of keys");
    }
    for (yaml_node_pair_t *pair = node ? node->data.mapping.pairs.start : NULL;
         node && pair < node->data.mapping.pairs.top && result == 0; pair++) {
        yaml_node_t *key = yaml_document_get_node(document, pair->key);
        yaml_node_t *value = yaml_document_get_node(document, pair->value);
        if (key == NULL || value == NULL || key->type != YAML_SCALAR_NODE)
            continue;
        const char *name = (const char *)key->data.scalar.value;
        reader.key = name;
        if (strcmp(name, "accesskey") == 0)
            result = get_text(&reader, value, settings->access_key, sizeof settings->access_key);
        else if (strcmp(name, "secretkey") == 0)
            result = get_text(&reader, value, settings->secret_key, sizeof settings->secret_key);
        else if (strcmp(name, "region") == 0)
            result = get_text(&reader, value, settings->region, sizeof settings->region);
        else if (strcmp(name, "regionendpoint") == 0) {
            endpoint_node = value;
            result = get_text(&reader, value, endpoint_written, sizeof endpoint_written);
        } else if (strcmp(name, "bucket") == 0)
            result = get_text(&reader, value, settings->bucket, sizeof settings->bucket);
        else if (strcmp(name, "rootdirectory") == 0) {
            char prefix[OBJECT_KEY_MAX];
            result =
                get_text(&reader, value, settings->root_directory, sizeof settings->root_directory);
            if (result == 0 && object_key_prefix_normalize(settings->root_directory, prefix) < 0)
                result = fail(&reader, value, "%s", error_message());
        } else if (strcmp(name, "forcepathstyle") == 0)
            result = get_bool(&reader, value, &settings->path_style);
        else if (strcmp(name, "secure") == 0)
            result = get_bool(&reader, value, &secure);
        else if (strcmp(name, "skipverify") == 0)
            result = get_bool(&reader, value, &settings->skip_verify);
        else if (strcmp(name, "chunksize") == 0) {
            result = get_integer(&reader, value, 5LL * MEBIBYTE, 5LL * 1024 * MEBIBYTE, &number);
            settings->part_size = number;
        } else if (strcmp(name, "uploadconcurrency") == 0) {
            result = get_integer(&reader, value, 1, 64, &number);
            settings->upload_concurrency = (int)number;
        } else if (strcmp(name, "attempts") == 0) {
            result = get_integer(&reader, value, 1, 10, &number);
            settings->attempts = (int)number;
        } else if (strcmp(name, "connecttimeout") == 0)
            result = get_duration_ms(&reader, value, 1, 300, &settings->connect_timeout_ms);
        else if (strcmp(name, "requesttimeout") == 0)
            result = get_duration_ms(&reader, value, 1, 3600, &settings->request_timeout_ms);
        else if (strcmp(name, "presignexpiry") == 0) {
            long milliseconds;
            result = get_duration_ms(&reader, value, 1, 604800, &milliseconds);
            settings->presign_expiry_seconds = milliseconds / 1000;
        } else {
            char message[300];
            int known = 0;
            for (size_t i = 0; distribution_only[i] != NULL; i++)
                known |= strcmp(name, distribution_only[i]) == 0;
            snprintf(message, sizeof message,
                     known ? "storage.s3.%.100s is not used by cairn"
                           : "storage.s3.%.100s is not a Distribution or cairn key, ignored",
                     name);
            if (warn != NULL)
                warn(context, key, message);
        }
    }
    if (result < 0)
        return result;
    if (settings->access_key[0] == '\0' && getenv("AWS_ACCESS_KEY_ID") != NULL)
        snprintf(settings->access_key, sizeof settings->access_key, "%s",
                 getenv("AWS_ACCESS_KEY_ID"));
    if (settings->secret_key[0] == '\0' && getenv("AWS_SECRET_ACCESS_KEY") != NULL)
        snprintf(settings->secret_key, sizeof settings->secret_key, "%s",
                 getenv("AWS_SECRET_ACCESS_KEY"));
    reader.key = "bucket";
    if (settings->bucket[0] == '\0')
        return fail(&reader, node ? node : endpoint_node, "is required");
    reader.key = "accesskey";
    if (settings->access_key[0] == '\0' || settings->secret_key[0] == '\0')
        return fail(&reader, node ? node : endpoint_node,
                    "no credentials: set accesskey and secretkey, or AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY in the environment");
    reader.key = "region";
    if (settings->region[0] == '\0')
        return fail(&reader, node ? node : endpoint_node, "must not be empty");
    reader.key = "regionendpoint";
    return endpoint_from(&reader, endpoint_node, endpoint_written, secure, settings->region,
                         settings->endpoint);
}

int s3_settings_check(const struct s3_settings *settings)
{
    if (settings->bucket[0] == '\0')
        return error_set(-EINVAL, "storage.s3.bucket is not set");
    if (settings->access_key[0] == '\0' || settings->secret_key[0] == '\0')
        return error_set(-EINVAL, "no S3 credentials: set storage.s3.accesskey and secretkey, or "
                                  "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    char prefix[OBJECT_KEY_MAX];
    if (object_key_prefix_normalize(settings->root_directory, prefix) < 0)
        return error_set(-EINVAL, "storage.s3.rootdirectory: %s", error_message());
    return 0;
}

int s3_settings_differ_in_place(const struct s3_settings *a, const struct s3_settings *b)
{
    return strcmp(a->endpoint, b->endpoint) != 0 || strcmp(a->region, b->region) != 0 ||
           strcmp(a->bucket, b->bucket) != 0 || strcmp(a->root_directory, b->root_directory) != 0 ||
           a->path_style != b->path_style;
}

void s3_settings_keep_place(struct s3_settings *settings, const struct s3_settings *running)
{
    memcpy(settings->endpoint, running->endpoint, sizeof settings->endpoint);
    memcpy(settings->region, running->region, sizeof settings->region);
    memcpy(settings->bucket, running->bucket, sizeof settings->bucket);
    memcpy(settings->root_directory, running->root_directory, sizeof settings->root_directory);
    settings->path_style = running->path_style;
}
