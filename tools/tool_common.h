/*
 * tools/tool_common.h — what cairn-gc and cairn-fsck share: finding the tree's
 * root from the command line, Distribution-style durations, small output
 * helpers.
 *
 * The tools use layout/ and drivers/ only (never src/): the configuration
 * file is read here for the keys the tools need,
 * storage.filesystem.rootdirectory and storage.s3 (read by
 * drivers/s3_config.h, as the server reads it), with libyaml's document API;
 * every other key is ignored (the server validates the file, not the tools).
 *
 * Every function returns 0 or a negative errno and sets error_message()
 * (layout/error.h) on failure.
 *
 *     char root[TREE_PATH_MAX];
 *     if (tool_root_from_arguments(root_option, config_option, root) < 0) {
 *         fprintf(stderr, "cairn-gc: %s\n", error_message());
 *         return 2;
 *     }
 *     long long grace;
 *     if (tool_parse_duration("1h30m", &grace) < 0) ...   // grace == 5400
 */
#ifndef CAIRN_TOOLS_TOOL_COMMON_H
#define CAIRN_TOOLS_TOOL_COMMON_H

#include <stdio.h>
#include <time.h>
#include "drivers/blob_store.h"
#include "layout/tree.h"

/* The root directory used when the configuration file has no
 * storage.filesystem.rootdirectory (the server's default too). */
#define TOOL_DEFAULT_ROOT "./data"

/* The tree's root directory R (tree.h) from the tools' --root DIR or
 * --config FILE: exactly one of `root` and `config_path` must be non-NULL
 * (-EINVAL otherwise). With `root`, copies it (trailing slashes removed). With
 * `config_path`, reads the YAML file and takes
 * storage.filesystem.rootdirectory, or TOOL_DEFAULT_ROOT when the file has no
 * such key (or it is null/empty). Errors: -ENOENT/-EACCES/... when the file
 * cannot be read, -EINVAL when it is not YAML or the key is not a string,
 * -ENAMETOOLONG when the path does not fit. */
int tool_root_from_arguments(const char *root, const char *config_path, char out[TREE_PATH_MAX]);

/* The blob store the tools work on: with `config_path` naming a file that has
 * storage.s3, the S3 store (drivers/s3.h: layers in the bucket, manifests in
 * the tree); otherwise the tree's filesystem store. Errors name the file and
 * line. */
int tool_blob_store_open(const char *config_path, const struct tree *tree,
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
