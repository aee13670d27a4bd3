/* src/registry/referrers.h */
#include "src/registry/referrers.h"

#include <errno.h>
#include <string.h>

#include "layout/error.h"
#include "layout/manifest.h"
#include "layout/walk.h"
#include "src/registry/registry_error.h"
#include "src/registry/repository.h"
#include "src/registry/stored_manifest.h"

/* The descriptor of one referrer, or NULL when it is unreadable (skipped)
 * or of another artifact type. */
static json_t *describe_referrer(struct blob_store *blobs, const struct digest *digest,
                                 const char *artifact_type)
{
    struct manifest manifest;
    size_t length;
    if (stored_manifest_parse(blobs, digest, &manifest, &length) < 0)
        return NULL;
    json_t *descriptor = NULL;
    if (artifact_type == NULL || strcmp(manifest.artifact_type, artifact_type) == 0) {
        descriptor = json_pack("{s:s, s:s, s:I}", "mediaType", manifest.media_type, "digest",
                               digest->string, "size", (json_int_t)length);
        if (descriptor != NULL && manifest.artifact_type[0] != '\0')
            json_object_set_new(descriptor, "artifactType", json_string(manifest.artifact_type));
        if (descriptor != NULL && manifest.annotations != NULL)
            json_object_set(descriptor, "annotations", (json_t *)manifest.annotations);
    }
    manifest_release(&manifest);
    return descriptor;
}

int referrers_index(const struct tree *tree, struct blob_store *blobs, const char *name,
                    const struct digest *subject, const char *artifact_type, json_t **index_out)
{
    *index_out = NULL;
    if (!repository_exists(tree, name))
        return error_set(-REGISTRY_ERROR_NAME_UNKNOWN, "repository name not known to registry");
    struct digest_list referrers = {0};
    int result = walk_referrers(tree, name, subject, &referrers);
    if (result < 0)
        return result;
    json_t *manifests = json_array();
    for (size_t i = 0; manifests != NULL && i < referrers.count; i++) {
        /* Only revisions still present: a deleted referrer disappears. */
        if (repository_resolve_manifest(tree, name, referrers.items[i].string, &referrers.items[i],
                                        NULL) < 0)
            continue;
        json_t *descriptor = describe_referrer(blobs, &referrers.items[i], artifact_type);
        if (descriptor != NULL)
            json_array_append_new(manifests, descriptor);
    }
    digest_list_clear(&referrers);
    json_t *index = manifests == NULL
                        ? NULL
                        : json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType",
                                    MEDIA_TYPE_OCI_INDEX, "manifests", manifests);
    if (index == NULL)
        return error_set(-ENOMEM, "out of memory");
    *index_out = index;
    return 0;
}
