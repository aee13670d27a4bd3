/*
 * layout/object_key.h — where a blob lives in an object store (S3).
 *
 * An object store holds blobs under the same names the tree uses on disk, so
 * that the bucket of Distribution's s3 driver and cairn's are the same:
 *
 *   <prefix>/docker/registry/v2/blobs/<alg>/<hex[0:2]>/<hex>/data
 *
 * where <prefix> is the configured rootdirectory without its leading and
 * trailing slashes (and the key starts at "docker/" when it is empty).
 *
 * Invariants: a prefix is accepted only if it is printable ASCII without
 * "//", "." or ".." segments, backslashes or '?'/'#' (object_key_prefix_normalize
 * refuses the rest with -EINVAL), so no key is built from an unchecked part;
 * digests are valid by construction (digest.h). A listed key is turned back
 * into a digest only by object_key_parse_blob_data(), which accepts exactly
 * the keys object_key_blob_data() builds.
 *
 *     char prefix[OBJECT_KEY_MAX], key[OBJECT_KEY_MAX];
 *     if (object_key_prefix_normalize("/registry/", prefix) < 0) ...  // "registry"
 *     object_key_blob_data(prefix, &digest, key);
 *     // "registry/docker/registry/v2/blobs/sha256/ab/abcd…/data"
 */
#ifndef CAIRN_LAYOUT_OBJECT_KEY_H
#define CAIRN_LAYOUT_OBJECT_KEY_H

#include "layout/digest.h"

/* S3 keys are at most 1024 bytes of UTF-8. */
#define OBJECT_KEY_MAX 1025

/* Checks a configured rootdirectory and writes it without leading or
 * trailing slashes ("" stays ""). -EINVAL (with the reason) or
 * -ENAMETOOLONG when the longest key would not fit. */
int object_key_prefix_normalize(const char *root_directory, char out[OBJECT_KEY_MAX]);

/* <prefix>/docker/registry/v2/blobs/ : what a listing of every blob asks for. */
int object_key_blobs_prefix(const char *prefix, char out[OBJECT_KEY_MAX]);

/* The key of a blob's bytes. */
int object_key_blob_data(const char *prefix, const struct digest *digest, char out[OBJECT_KEY_MAX]);

/* <prefix>/docker/registry/v2/.cairn-clock-<tag>: a scratch object whose
 * LastModified tells the store's clock (drivers/s3.c). `tag` must be
 * [0-9a-z-] only (-EINVAL otherwise); it makes the key unique per caller. */
int object_key_clock_probe(const char *prefix, const char *tag, char out[OBJECT_KEY_MAX]);

/* Parses a key a listing returned: 0 and the digest when it is exactly a
 * blob data key under `prefix`; -EINVAL for any other object (a stray file,
 * a wrong fan-out directory, uppercase hex). */
int object_key_parse_blob_data(const char *prefix, const char *key, struct digest *out);

#endif
