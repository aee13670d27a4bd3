/*
 * drivers/s3_config.h — the `storage.s3` section of config.yml as a plain
 * struct, and how the S3 driver turns it into the settings it runs with.
 *
 * The YAML is read by the one configuration reader (src/config/config.c),
 * for the server and the tools (cairn-gc, cairn-fsck) alike, into a
 * `struct s3_config`; this module owns what the values mean: the defaults,
 * the bounds of each key, where the credentials and the endpoint come from,
 * and what the store needs before it can start. No YAML here.
 *
 * Keys are Distribution's where they overlap — accesskey, secretkey, region,
 * regionendpoint, bucket, rootdirectory, forcepathstyle, secure, skipverify,
 * chunksize (the multipart part size) — plus cairn's own: uploadconcurrency
 * (parts in flight), connecttimeout, requesttimeout, attempts, presignexpiry
 * (the lifetime of redirect URLs, S3_DEFAULT_PRESIGN_EXPIRY_SECONDS: 20m as
 * in Distribution). Distribution's other keys (s3_config_distribution_only:
 * encrypt, storageclass, v4auth, …) are reported by the reader as warnings
 * and ignored, as are unknown keys.
 *
 * Credentials missing from the file are taken from AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY. The endpoint is regionendpoint (https:// or http://
 * is added per `secure` when it has no scheme), else AWS's
 * s3.<region>.amazonaws.com. Secrets never appear in a message.
 *
 *     struct s3_config section;
 *     s3_config_defaults(&section);
 *     ... the reader sets section.settings.bucket, section.region_endpoint, ...
 *     const char *bad_key;
 *     struct s3_settings settings;
 *     if (s3_config_resolve(&section, &settings, &bad_key) < 0)
 *         report("line of %s: %s", bad_key, error_message());
 *     ... later, at start and each reload: s3_settings_check(&settings)
 */
#ifndef CAIRN_DRIVERS_S3_CONFIG_H
#define CAIRN_DRIVERS_S3_CONFIG_H

#include <stdint.h>

#include "drivers/s3_client.h"
#include "drivers/s3_sign.h"

/* The bounds of the keys (inclusive); the reader refuses values outside. */
#define S3_CONFIG_CHUNK_SIZE_MIN S3_MINIMUM_PART_SIZE /* S3's smallest part */
#define S3_CONFIG_CHUNK_SIZE_MAX S3_MAXIMUM_PART_SIZE /* S3's largest part */
#define S3_CONFIG_UPLOAD_CONCURRENCY_MAX S3_UPLOAD_CONCURRENCY_MAX
#define S3_CONFIG_ATTEMPTS_MAX 10
#define S3_CONFIG_CONNECT_TIMEOUT_MAX_SECONDS 300
#define S3_CONFIG_REQUEST_TIMEOUT_MAX_SECONDS 3600
#define S3_CONFIG_PRESIGN_EXPIRY_MAX_SECONDS S3_PRESIGN_EXPIRES_MAX /* 7 days: SigV4's limit */

/* What storage.s3 says. */
struct s3_config {
    /* Every key but regionendpoint and secure, in the field it sets:
     * accesskey, secretkey, region, bucket, rootdirectory (as written),
     * forcepathstyle (path_style), skipverify, chunksize (part_size),
     * uploadconcurrency, attempts, connecttimeout and requesttimeout (in ms),
     * presignexpiry. `endpoint` stays empty: s3_config_resolve() builds it. */
    struct s3_settings settings;
    char region_endpoint[512]; /* regionendpoint as written; "": AWS's for the region */
    int secure;                /* secure: the scheme of an endpoint written without one */
};

/* Distribution's keys that cairn does not use (NULL-terminated). */
extern const char *const s3_config_distribution_only[];

/* The section with nothing in it: s3_settings_defaults() (drivers/s3_client.h),
 * but Distribution's forcepathstyle false (virtual-hosted addressing), secure
 * true, no regionendpoint. */
void s3_config_defaults(struct s3_config *config);

/* The settings the store runs with: `config`'s, with the environment's
 * credentials where the file has none and the endpoint built. 0, or -EINVAL
 * with "storage.s3.<key>: <reason>" in error_message() and `*bad_key` the key
 * the reason is about ("bucket", "accesskey", "region" or "regionendpoint"),
 * so that the reader can point at its line; `*settings` is then undefined. */
int s3_config_resolve(const struct s3_config *config, struct s3_settings *settings,
                      const char **bad_key);

/* What the S3 store needs before it can start, checked the same way by the
 * server at start and reload, `cairn --check-config` and the tools: a bucket,
 * both credentials (from the file or the environment), a valid
 * rootdirectory. 0, or -EINVAL with the reason in error_message(). */
int s3_settings_check(const struct s3_settings *settings);

/* 1 when the two settings reach different buckets or keys (endpoint,
 * region, bucket, rootdirectory, addressing): those need a restart. */
int s3_settings_differ_in_place(const struct s3_settings *a, const struct s3_settings *b);
/* Copies those restart-only fields from `running` into `settings`, keeping
 * everything else (credentials, timeouts, parts, expiry) as reloaded. */
void s3_settings_keep_place(struct s3_settings *settings, const struct s3_settings *running);

#endif
