/* layout/manifest.h */
#include "layout/manifest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>

#include "layout/error.h"

static const char *const known_media_types[] = {
    [MANIFEST_OCI_IMAGE] = MEDIA_TYPE_OCI_MANIFEST,
    [MANIFEST_OCI_INDEX] = MEDIA_TYPE_OCI_INDEX,
    [MANIFEST_DOCKER_IMAGE] = MEDIA_TYPE_DOCKER_MANIFEST,
    [MANIFEST_DOCKER_LIST] = MEDIA_TYPE_DOCKER_LIST,
};
#define KNOWN_COUNT (sizeof known_media_types / sizeof known_media_types[0])

/* The kind whose media type is `text` (`length` bytes, compared exactly or
 * ignoring case), or -1. */
static int kind_of(const char *text, size_t length, int ignore_case)
{
    for (size_t i = 0; i < KNOWN_COUNT; i++) {
        const char *known = known_media_types[i];
        if (strlen(known) == length &&
            (ignore_case ? strncasecmp(known, text, length) : strncmp(known, text, length)) == 0)
            return (int)i;
    }
    return -1;
}

int manifest_media_type_is_known(const char *media_type)
{
    return media_type != NULL && kind_of(media_type, strlen(media_type), 0) >= 0;
}

/* The kind named by a Content-Type header ("type/subtype; params"), or -1
 * when there is none or it names no manifest kind. */
static int kind_of_content_type(const char *content_type)
{
    if (content_type == NULL)
        return -1;
    size_t length = strcspn(content_type, ";");
    while (length > 0 && (content_type[length - 1] == ' ' || content_type[length - 1] == '\t'))
        length--;
    size_t start = 0;
    while (start < length && (content_type[start] == ' ' || content_type[start] == '\t'))
        start++;
    return kind_of(content_type + start, length - start, 1);
}

static json_t *load(const void *body, size_t length)
{
    json_error_t error;
    if (length > MANIFEST_SIZE_MAX) {
        error_set(-EFBIG, "manifest of %zu bytes is larger than %d", length, MANIFEST_SIZE_MAX);
        return NULL;
    }
    json_t *root = json_loadb(body, length, JSON_REJECT_DUPLICATES, &error);
    if (root == NULL) {
        error_set(-EINVAL, "manifest is not valid JSON: %s (line %d, column %d)", error.text,
                  error.line, error.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        error_set(-EINVAL, "manifest is not a JSON object");
        return NULL;
    }
    return root;
}

/* The kind from the body's mediaType (a known type), or inferred; -1 with
 * the error set when the mediaType is unusable. */
static int kind_of_body(json_t *root, int content_type_kind)
{
    json_t *media_type = json_object_get(root, "mediaType");
    if (media_type == NULL) {
        /* What a GET will serve it as (manifest_media_type_of()); a
         * Content-Type that says otherwise would be served as a type it was
         * not pushed as (Docker types always carry their mediaType). */
        int inferred = json_object_get(root, "manifests") ? MANIFEST_OCI_INDEX : MANIFEST_OCI_IMAGE;
        if (content_type_kind >= 0 && content_type_kind != inferred) {
            error_set(-EINVAL, "no mediaType, so the body is %s, not the Content-Type %s",
                      known_media_types[inferred], known_media_types[content_type_kind]);
            return -1;
        }
        return inferred;
    }
    if (!json_is_string(media_type)) {
        error_set(-EINVAL, "mediaType is not a string");
        return -1;
    }
    int kind = kind_of(json_string_value(media_type), json_string_length(media_type), 0);
    if (kind < 0) {
        error_set(-EINVAL, "mediaType \"%.*s\" is not a supported manifest type", MEDIA_TYPE_MAX,
                  json_string_value(media_type));
        return -1;
    }
    if (content_type_kind >= 0 && content_type_kind != kind) {
        error_set(-EINVAL, "mediaType %s differs from the Content-Type %s", known_media_types[kind],
                  known_media_types[content_type_kind]);
        return -1;
    }
    return kind;
}

static int schema_version_check(json_t *root)
{
    json_t *version = json_object_get(root, "schemaVersion");
    if (!json_is_integer(version) || json_integer_value(version) != 2)
        return error_set(-EINVAL, "schemaVersion must be the integer 2");
    return 0;
}

/* Copies an optional media-type-like string member into out[MEDIA_TYPE_MAX];
 * `where` names it in messages. */
static int media_type_copy(json_t *value, const char *where, int required, char out[MEDIA_TYPE_MAX])
{
    if (value == NULL && !required)
        return 0;
    if (!json_is_string(value))
        return error_set(-EINVAL, "%s: %s", where, value ? "not a string" : "missing");
    size_t length = json_string_length(value);
    if (required && length == 0)
        return error_set(-EINVAL, "%s: empty", where);
    if (length >= MEDIA_TYPE_MAX)
        return error_set(-EINVAL, "%s: longer than %d characters", where, MEDIA_TYPE_MAX - 1);
    if (memchr(json_string_value(value), '\0', length))
        return error_set(-EINVAL, "%s: contains NUL", where);
    memcpy(out, json_string_value(value), length + 1);
    return 0;
}

static int descriptor_parse(json_t *value, const char *where, struct descriptor *out)
{
    char member[64];
    memset(out, 0, sizeof *out);
    if (!json_is_object(value))
        return error_set(-EINVAL, "%s: %s", where, value ? "not an object" : "missing");
    snprintf(member, sizeof member, "%s.mediaType", where);
    int result = media_type_copy(json_object_get(value, "mediaType"), member, 1, out->media_type);
    if (result < 0)
        return result;
    json_t *digest = json_object_get(value, "digest");
    if (!json_is_string(digest))
        return error_set(-EINVAL, "%s.digest: %s", where, digest ? "not a string" : "missing");
    if (digest_parse(json_string_value(digest), json_string_length(digest), &out->digest) < 0) {
        char reason[ERROR_MESSAGE_MAX / 2];
        snprintf(reason, sizeof reason, "%s", error_message());
        return error_set(-EINVAL, "%s.digest: %s", where, reason);
    }
    json_t *size = json_object_get(value, "size");
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return error_set(-EINVAL, "%s.size: %s", where,
                         size ? "not a non-negative integer" : "missing");
    out->size = json_integer_value(size);
    json_t *urls = json_object_get(value, "urls");
    if (urls != NULL && !json_is_array(urls))
        return error_set(-EINVAL, "%s.urls: not an array", where);
    out->has_urls = json_array_size(urls) > 0;
    return 0;
}

/* Appends the descriptors of `array` (a JSON array named `member`). */
static int references_parse(json_t *array, const char *member, enum reference_role role,
                            struct manifest *out)
{
    if (!json_is_array(array))
        return error_set(-EINVAL, "%s: %s", member, array ? "not an array" : "missing");
    for (size_t i = 0; i < json_array_size(array); i++) {
        char where[64];
        snprintf(where, sizeof where, "%s[%zu]", member, i);
        struct manifest_reference *reference = &out->references[out->reference_count];
        reference->role = role;
        int result = descriptor_parse(json_array_get(array, i), where, &reference->descriptor);
        if (result < 0)
            return result;
        out->reference_count++;
    }
    return 0;
}

static int references_fill(json_t *root, int is_index, struct manifest *out)
{
    json_t *children = json_object_get(root, is_index ? "manifests" : "layers");
    out->references = calloc(json_array_size(children) + 1, sizeof *out->references);
    if (out->references == NULL)
        return error_set(-ENOMEM, "out of memory");
    if (is_index)
        return references_parse(children, "manifests", REFERENCE_MANIFEST, out);
    out->references[0].role = REFERENCE_CONFIG;
    int result =
        descriptor_parse(json_object_get(root, "config"), "config", &out->references[0].descriptor);
    if (result < 0)
        return result;
    out->reference_count = 1;
    return references_parse(children, "layers", REFERENCE_LAYER, out);
}

static int manifest_fill(json_t *root, int kind, struct manifest *out)
{
    int result = schema_version_check(root);
    if (result < 0)
        return result;
    out->kind = (enum manifest_kind)kind;
    out->media_type = known_media_types[kind];
    int is_index = kind == MANIFEST_OCI_INDEX || kind == MANIFEST_DOCKER_LIST;
    if ((result = references_fill(root, is_index, out)) < 0)
        return result;
    if (kind == MANIFEST_OCI_IMAGE || kind == MANIFEST_OCI_INDEX) {
        json_t *subject = json_object_get(root, "subject");
        if (subject != NULL) {
            if ((result = descriptor_parse(subject, "subject", &out->subject)) < 0)
                return result;
            out->has_subject = 1;
        }
    }
    if ((result = media_type_copy(json_object_get(root, "artifactType"), "artifactType", 0,
                                  out->artifact_type)) < 0)
        return result;
    if (out->artifact_type[0] == '\0' && !is_index)
        memcpy(out->artifact_type, out->references[0].descriptor.media_type, MEDIA_TYPE_MAX);
    json_t *annotations = json_object_get(root, "annotations");
    if (annotations != NULL) {
        const char *key;
        json_t *value;
        if (!json_is_object(annotations))
            return error_set(-EINVAL, "annotations: not an object");
        json_object_foreach(annotations, key, value)
        {
            if (!json_is_string(value))
                return error_set(-EINVAL, "annotations[\"%.64s\"]: not a string", key);
        }
        out->annotations = json_incref(annotations);
    }
    return 0;
}

int manifest_parse(const void *body, size_t length, const char *content_type, struct manifest *out)
{
    memset(out, 0, sizeof *out);
    json_t *root = load(body, length);
    if (root == NULL)
        return length > MANIFEST_SIZE_MAX ? -EFBIG : -EINVAL;
    int kind = kind_of_body(root, kind_of_content_type(content_type));
    int result = kind < 0 ? -EINVAL : manifest_fill(root, kind, out);
    json_decref(root);
    if (result < 0)
        manifest_release(out);
    return result;
}

void manifest_release(struct manifest *manifest)
{
    free(manifest->references);
    json_decref(manifest->annotations);
    memset(manifest, 0, sizeof *manifest);
}

const char *manifest_media_type_of(const void *body, size_t length)
{
    json_t *root = load(body, length);
    if (root == NULL)
        return NULL;
    int kind = kind_of_body(root, -1);
    const char *media_type = NULL;
    if (kind >= 0 && schema_version_check(root) == 0)
        media_type = known_media_types[kind];
    json_decref(root);
    return media_type;
}
