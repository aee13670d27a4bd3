/* src/registry/stored_manifest.h */
#include "src/registry/stored_manifest.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "layout/error.h"

/* error_set() formats into the buffer error_message() returns: the reason is
 * copied out first. */
static int not_a_manifest(int code, const struct digest *digest)
{
    char reason[ERROR_MESSAGE_MAX];
    snprintf(reason, sizeof reason, "%s", error_message());
    return error_set(code, "stored manifest %s is not a manifest: %s", digest->string, reason);
}

int stored_manifest_read(struct blob_store *blobs, const struct digest *digest, char **body_out,
                         size_t *length_out, const char **media_type_out)
{
    *body_out = NULL;
    int result = blob_store_read_all(blobs, digest, MANIFEST_SIZE_MAX, body_out, length_out);
    if (result < 0)
        return result;
    *media_type_out = manifest_media_type_of(*body_out, *length_out);
    if (*media_type_out == NULL) {
        free(*body_out);
        *body_out = NULL;
        return not_a_manifest(-EINVAL, digest);
    }
    return 0;
}

int stored_manifest_parse(struct blob_store *blobs, const struct digest *digest,
                          struct manifest *manifest, size_t *length_out)
{
    char *body = NULL;
    size_t length = 0;
    int result = blob_store_read_all(blobs, digest, MANIFEST_SIZE_MAX, &body, &length);
    if (result < 0)
        return result;
    result = manifest_parse(body, length, NULL, manifest);
    free(body);
    if (result < 0)
        return not_a_manifest(result == -ENOMEM ? -ENOMEM : -EINVAL, digest);
    if (length_out != NULL)
        *length_out = length;
    return 0;
}

int stored_manifest_unparseable(int result)
{
    return result == -EFBIG || result == -EINVAL;
}
