/*
 * drivers/s3_config.h — the `storage.s3` section of config.yml, read once for
 * the server (src/config/config.c) and the tools (cairn-gc, cairn-fsck), so that
 * both reach the same bucket the same way.
 *
 * Keys are Distribution's where they overlap — accesskey, secretkey, region,
 * regionendpoint, bucket, rootdirectory, forcepathstyle, secure, skipverify,
 * chunksize (the multipart part size) — plus cairn's own: uploadconcurrency
 * (parts in flight), connecttimeout, requesttimeout, attempts, presignexpiry
 * (the lifetime of redirect URLs, 20m by default as in Distribution).
 * Distribution's other keys (encrypt, storageclass, v4auth, …) are reported
 * through `warn` and ignored, as are unknown keys.
 *
 * Credentials missing from the file are taken from AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY. The endpoint is regionendpoint (https:// or http://
 * is added per `secure` when it has no scheme), else AWS's
 * s3.<region>.amazonaws.com. Secrets never appear in a message.
 *
 *     struct s3_settings settings;
 *     const yaml_node_t *bad;
 *     if (s3_config_read(&document, s3_node, &settings, &bad, warn, context) < 0)
 *         report("%lu: %s", bad->start_mark.line + 1, error_message());
 */
#ifndef CAIRN_DRIVERS_S3_CONFIG_H
#define CAIRN_DRIVERS_S3_CONFIG_H

#include <yaml.h>
#include "drivers/s3_client.h"

typedef void (*s3_config_warn)(void *context, const yaml_node_t *node, const char *message);

/* Reads the mapping `node` over s3_settings_defaults(). 0, or -EINVAL with
 * "storage.s3.<key>: <reason>" in error_message() and `*bad_node` set to the
 * offending node (for its line). */
int s3_config_read(yaml_document_t *document, const yaml_node_t *node, struct s3_settings *settings,
                   const yaml_node_t **bad_node, s3_config_warn warn, void *context);

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
