/* tests/fuzz/fuzz_manifest.c — manifest_parse() and
 * manifest_media_type_of() over any body (manifests and indexes, Docker and
 * OCI). The first byte picks the Content-Type the PUT would carry. */
#include <string.h>

#include "layout/manifest.h"
#include "tests/fuzz/fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const content_types[] = {
        NULL,
        MEDIA_TYPE_OCI_MANIFEST,
        MEDIA_TYPE_OCI_INDEX,
        MEDIA_TYPE_DOCKER_MANIFEST,
        MEDIA_TYPE_DOCKER_LIST,
        "application/json",
        "",
        "application/vnd.oci.image.manifest.v1+json; charset=utf-8",
    };
    if (size < 1)
        return 0;
    const char *content_type =
        content_types[data[0] % (sizeof content_types / sizeof *content_types)];
    data++;
    size--;

    struct manifest manifest;
    if (manifest_parse(data, size, content_type, &manifest) == 0) {
        FUZZ_CHECK(manifest.media_type != NULL);
        FUZZ_CHECK(manifest_media_type_is_known(manifest.media_type));
        FUZZ_CHECK(strlen(manifest.artifact_type) < MEDIA_TYPE_MAX);
        for (size_t i = 0; i < manifest.reference_count; i++)
            FUZZ_CHECK(manifest.references[i].descriptor.digest.string_length > 0);
        /* What a GET serves it with: the same media type. */
        const char *served = manifest_media_type_of(data, size);
        FUZZ_CHECK(served != NULL && strcmp(served, manifest.media_type) == 0);
        manifest_release(&manifest);
    }
    const char *media_type = manifest_media_type_of(data, size);
    if (media_type != NULL)
        FUZZ_CHECK(manifest_media_type_is_known(media_type));
    return 0;
}
