/*
 * layout/names.h — validation of the names a client sends: repository names,
 * tags and upload ids. Nothing from the network is used in a path, a link or a
 * response until one of these functions accepted it.
 *
 * Repository name: the OCI grammar
 *     [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
 * at most 255 characters including slashes. This rules out "..", "%2e",
 * NUL, uppercase, empty components, leading or trailing separators.
 * Tag: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
 * Upload id: a lowercase RFC 4122 UUID (8-4-4-4-12 hex), as Distribution
 * generates; upload_id_generate() makes a random version-4 one.
 * A manifest reference is a tag or a digest: reference_kind() says which.
 *
 * All functions take (pointer, length) so they work on slices of a request
 * path; they return 0 when valid and -EINVAL (with error_message()) when not.
 */
#ifndef CAIRN_LAYOUT_NAMES_H
#define CAIRN_LAYOUT_NAMES_H

#include <stddef.h>

#define REPOSITORY_NAME_MAX 255
#define TAG_MAX 128
#define UPLOAD_ID_LENGTH 36

int repository_name_validate(const char *name, size_t length);
int tag_validate(const char *tag, size_t length);
int upload_id_validate(const char *id, size_t length);

/* What a manifest reference (the <reference> of /v2/<name>/manifests/) is
 * meant as: a digest when it holds a ':', which no tag can, else a tag. It
 * validates nothing: the reference must then pass the grammar of its kind
 * (digest_parse() or tag_validate()); one that does not names no manifest. */
enum reference_kind {
    REFERENCE_TAG,
    REFERENCE_DIGEST,
};

enum reference_kind reference_kind(const char *reference, size_t length);

/* Writes a new random upload id and a NUL into out[UPLOAD_ID_LENGTH + 1]. */
int upload_id_generate(char out[UPLOAD_ID_LENGTH + 1]);

#endif
