/*
 * layout/manifest.h — reading image manifests and indexes: their media type,
 * what they reference, and their subject.
 *
 * Supported kinds: OCI image manifest, OCI image index, Docker schema 2
 * manifest, Docker manifest list (artifacts are OCI image manifests with an
 * artifactType and/or an empty config). Parsing is strict: the body must be a
 * JSON object (jansson, duplicate keys rejected, nothing after the value),
 * schemaVersion 2, every descriptor must have a valid mediaType, digest and
 * non-negative size.
 *
 * The media type is the body's "mediaType"; when the body has none, it is the
 * Content-Type given by the caller (a PUT) or, failing that, inferred from the
 * body ("manifests" -> OCI index, otherwise OCI image manifest). A body whose
 * mediaType differs from a given Content-Type is refused.
 *
 *     struct manifest manifest;
 *     if (manifest_parse(body, length, content_type, &manifest) < 0)
 *         return MANIFEST_INVALID;       // error_message() says why
 *     for (size_t i = 0; i < manifest.reference_count; i++) ...
 *     manifest_release(&manifest);
 */
#ifndef CAIRN_LAYOUT_MANIFEST_H
#define CAIRN_LAYOUT_MANIFEST_H

#include <stddef.h>
#include <stdint.h>
#include "layout/digest.h"

#define MEDIA_TYPE_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_TYPE_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MEDIA_TYPE_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MEDIA_TYPE_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MEDIA_TYPE_OCI_EMPTY "application/vnd.oci.empty.v1+json"

/* A manifest bigger than this is refused (as Distribution does). */
#define MANIFEST_SIZE_MAX (4 * 1024 * 1024)

#define MEDIA_TYPE_MAX 256

enum manifest_kind {
    MANIFEST_OCI_IMAGE,
    MANIFEST_OCI_INDEX,
    MANIFEST_DOCKER_IMAGE,
    MANIFEST_DOCKER_LIST,
};

enum reference_role {
    REFERENCE_CONFIG,   /* an image's config blob */
    REFERENCE_LAYER,    /* an image's layer blob */
    REFERENCE_MANIFEST, /* a child manifest of an index */
};

struct descriptor {
    char media_type[MEDIA_TYPE_MAX];
    struct digest digest;
    int64_t size;
    int has_urls; /* foreign layer: the blob may live elsewhere */
};

struct manifest_reference {
    enum reference_role role;
    struct descriptor descriptor;
};

struct manifest {
    enum manifest_kind kind;
    const char *media_type; /* one of the MEDIA_TYPE_* constants */
    /* artifactType, or for an image manifest without one the config's media
     * type (what the referrers API reports); "" when neither applies. */
    char artifact_type[MEDIA_TYPE_MAX];
    struct manifest_reference *references; /* config first, then layers or children */
    size_t reference_count;
    int has_subject;
    struct descriptor subject;
    void *annotations; /* json_t object or NULL; owned by the manifest */
};

int manifest_parse(const void *body, size_t length, const char *content_type, struct manifest *out);
void manifest_release(struct manifest *manifest);

/* The media type to serve a stored manifest with: its "mediaType", or the
 * inferred one. Cheap enough for every GET; NULL with -EINVAL if the body is
 * not a manifest cairn knows. */
const char *manifest_media_type_of(const void *body, size_t length);

/* Whether `media_type` is one of the four manifest media types. */
int manifest_media_type_is_known(const char *media_type);

#endif
