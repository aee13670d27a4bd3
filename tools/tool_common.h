/*
 * tools/tool_common.h — what cairn-gc and cairn-fsck share: finding the tree's
 * root from the command line, Distribution-style durations, small output
 * helpers.
 *
 * The tools use layout/, drivers/ and the configuration (src/config/config.h,
 * src/config/runtime.h: no h2o). A --config file is read by the server's own
 * reader and validated as the server validates it, so the tools and the
 * server never disagree about a file.
 *
 * Every function returns 0 or a negative errno and sets error_message()
 * (layout/error.h) on failure.
 *
 *     struct config config;
 *     char root[TREE_PATH_MAX];
 *     if (tool_settings_from_arguments(root_option, config_option, &config, root) < 0) {
 *         fprintf(stderr, "cairn-gc: %s\n", error_message());
 *         return 2;
 *     }
 *     ... tool_blob_store_open(&config, &tree, &store) ...
 *     config_release(&config);
 *     long long grace;
 *     if (tool_parse_duration("1h30m", &grace) < 0) ...   // grace == 5400
 */
#ifndef CAIRN_TOOLS_TOOL_COMMON_H
#define CAIRN_TOOLS_TOOL_COMMON_H

#include <stdio.h>
#include <time.h>
#include "drivers/blob_store.h"
#include "layout/tree.h"
#include "src/config/config.h"

/* The tools' --root DIR or --config FILE (exactly one of `root` and
 * `config_path` must be non-NULL: -EINVAL otherwise). With `root`, `*config`
 * gets the built-in defaults and `root_out` the directory (trailing slashes
 * removed). With `config_path`, the file is loaded and validated exactly as
 * the server loads it at start (src/config/runtime.h runtime_check_file: every file
 * it names, TLS, htpasswd, token keys, S3 settings), so a configuration the
 * server would refuse is refused here with the server's message, and
 * `root_out` gets storage.filesystem.rootdirectory (or the server's
 * default). On success config_release(config) afterwards; on failure
 * nothing needs releasing. */
int tool_settings_from_arguments(const char *root, const char *config_path, struct config *config,
                                 char root_out[TREE_PATH_MAX]);

/* The blob store the tools work on: with storage.s3 in `config`, the S3
 * store (drivers/s3.h: layers in the bucket, manifests in the tree);
 * otherwise the tree's filesystem store. */
int tool_blob_store_open(const struct config *config, const struct tree *tree,
                         struct blob_store **store_out);

/* Parses a duration as written in Distribution's configuration (Go's
 * time.ParseDuration): "0", "0s", "90s", "15m", "1h", "168h", "1h30m",
 * "1.5h", "500ms" when it is whole seconds. Plain digits ("3600") are
 * seconds. Only whole, non-negative numbers of seconds are accepted: -EINVAL
 * otherwise (or on overflow). */
int tool_parse_duration(const char *text, long long *seconds);

/* 1 when `fd` is a terminal (isatty), else 0. */
int tool_is_terminal(int fd);

/* Seconds between two CLOCK_MONOTONIC/CLOCK_REALTIME readings, as a double. */
double tool_seconds_between(const struct timespec *start, const struct timespec *end);

/* Writes `bytes` as a short human size to `out` ("512 B", "1.5 KiB",
 * "3.2 GiB"). out must hold 32 bytes. */
void tool_format_size(unsigned long long bytes, char out[32]);

/* Prints `text` as a JSON string literal (quotes and escapes) to `stream`. */
void tool_json_print_string(FILE *stream, const char *text);

#endif
