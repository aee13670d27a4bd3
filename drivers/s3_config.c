/* drivers/s3_config.h */
#include "drivers/s3_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout/error.h"
#include "layout/object_key.h"

const char *const s3_config_distribution_only[] = {"encrypt",
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

void s3_config_defaults(struct s3_config *config)
{
    memset(config, 0, sizeof *config);
    s3_settings_defaults(&config->settings);
    config->settings.path_style = 0; /* Distribution's forcepathstyle default */
    config->secure = 1;
}

static int refuse(const char **bad_key, const char *key, const char *reason, const char *shown)
{
    *bad_key = key;
    if (shown != NULL)
        return error_set(-EINVAL, "storage.s3.%s: %s (got %.200s)", key, reason, shown);
    return error_set(-EINVAL, "storage.s3.%s: %s", key, reason);
}

static int endpoint_from(const char *written, int secure, const char *region, char out[512],
                         const char **bad_key)
{
    const char *key = "regionendpoint";
    int length;
    if (written[0] == '\0')
        length = snprintf(out, 512, "%s://s3.%s.amazonaws.com", secure ? "https" : "http", region);
    else if (strncmp(written, "http://", 7) == 0 || strncmp(written, "https://", 8) == 0)
        length = snprintf(out, 512, "%s", written);
    else if (strstr(written, "://") != NULL)
        return refuse(bad_key, key, "only http:// and https:// endpoints are supported", NULL);
    else
        length = snprintf(out, 512, "%s://%s", secure ? "https" : "http", written);
    if (length < 0 || length >= 512)
        return refuse(bad_key, key, "endpoint longer than 511 bytes", NULL);
    /* Trailing slashes go, but never those of the scheme ("https://"
     * alone has no host). */
    const char *host = strstr(out, "://") + 3;
    size_t end = strlen(out);
    while (out + end > host && out[end - 1] == '/')
        out[--end] = '\0';
    if (*host == '\0' || strpbrk(host, "/?#@ ") != NULL)
        return refuse(bad_key, key, "must be a scheme and host[:port] without a path", written);
    return 0;
}

int s3_config_resolve(const struct s3_config *config, struct s3_settings *settings,
                      const char **bad_key)
{
    *settings = config->settings;
    if (settings->access_key[0] == '\0' && getenv("AWS_ACCESS_KEY_ID") != NULL)
        snprintf(settings->access_key, sizeof settings->access_key, "%s",
                 getenv("AWS_ACCESS_KEY_ID"));
    if (settings->secret_key[0] == '\0' && getenv("AWS_SECRET_ACCESS_KEY") != NULL)
        snprintf(settings->secret_key, sizeof settings->secret_key, "%s",
                 getenv("AWS_SECRET_ACCESS_KEY"));
    if (settings->bucket[0] == '\0')
        return refuse(bad_key, "bucket", "is required", NULL);
    if (settings->access_key[0] == '\0' || settings->secret_key[0] == '\0')
        return refuse(bad_key, "accesskey",
                      "no credentials: set accesskey and secretkey, or AWS_ACCESS_KEY_ID and "
                      "AWS_SECRET_ACCESS_KEY in the environment",
                      NULL);
    if (settings->region[0] == '\0')
        return refuse(bad_key, "region", "must not be empty", NULL);
    return endpoint_from(config->region_endpoint, config->secure, settings->region,
                         settings->endpoint, bad_key);
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
