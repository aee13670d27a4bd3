/* Unit tests for layout/manifest.h. */
#include "test_support.h"

#include <errno.h>
#include <jansson.h>

#include "layout/error.h"
#include "layout/manifest.h"

#define D_A "\"sha256:" HEX_A "\""
#define D_B "\"sha256:" HEX_B "\""
#define D_C "\"sha256:" HEX_C "\""
#define CONFIG_TYPE "application/vnd.oci.image.config.v1+json"
#define LAYER_TYPE "application/vnd.oci.image.layer.v1.tar+gzip"

#define OCI_IMAGE                                                                                  \
    "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST "\","                          \
    "\"config\":{\"mediaType\":\"" CONFIG_TYPE "\",\"digest\":" D_A ",\"size\":7},"                \
    "\"layers\":[{\"mediaType\":\"" LAYER_TYPE "\",\"digest\":" D_B ",\"size\":100},"              \
    "{\"mediaType\":\"" LAYER_TYPE "\",\"digest\":" D_C ",\"size\":0}],"                           \
    "\"annotations\":{\"org.opencontainers.image.created\":\"2024-01-02T03:04:05Z\"}}"

static int parse(const char *body, const char *content_type, struct manifest *out)
{
    return manifest_parse(body, strlen(body), content_type, out);
}

static int rejects(const char *body, const char *content_type)
{
    struct manifest manifest;
    int result = parse(body, content_type, &manifest);
    assert_null(manifest.references);
    assert_null(manifest.annotations);
    return result;
}

static void test_oci_image(void **state)
{
    (void)state;
    struct manifest m;
    assert_int_equal(parse(OCI_IMAGE, MEDIA_TYPE_OCI_MANIFEST, &m), 0);
    assert_int_equal(m.kind, MANIFEST_OCI_IMAGE);
    assert_ptr_equal(m.media_type, manifest_media_type_of(OCI_IMAGE, strlen(OCI_IMAGE)));
    assert_string_equal(m.media_type, MEDIA_TYPE_OCI_MANIFEST);
    assert_int_equal(m.reference_count, 3);
    assert_int_equal(m.references[0].role, REFERENCE_CONFIG);
    assert_string_equal(m.references[0].descriptor.digest.string, "sha256:" HEX_A);
    assert_string_equal(m.references[0].descriptor.media_type, CONFIG_TYPE);
    assert_int_equal(m.references[0].descriptor.size, 7);
    assert_int_equal(m.references[1].role, REFERENCE_LAYER);
    assert_string_equal(m.references[1].descriptor.digest.string, "sha256:" HEX_B);
    assert_int_equal(m.references[1].descriptor.size, 100);
    assert_int_equal(m.references[2].role, REFERENCE_LAYER);
    assert_string_equal(m.references[2].descriptor.digest.string, "sha256:" HEX_C);
    assert_int_equal(m.references[2].descriptor.has_urls, 0);
    assert_string_equal(m.artifact_type, CONFIG_TYPE);
    assert_false(m.has_subject);
    assert_non_null(m.annotations);
    json_t *created = json_object_get(m.annotations, "org.opencontainers.image.created");
    assert_string_equal(json_string_value(created), "2024-01-02T03:04:05Z");
    manifest_release(&m);
    assert_null(m.references);
    assert_null(m.annotations);

    /* Content-Type with parameters and spaces; or none at all. */
    assert_int_equal(parse(OCI_IMAGE, " application/vnd.oci.image.manifest.v1+json ; q=1", &m), 0);
    manifest_release(&m);
    assert_int_equal(parse(OCI_IMAGE, NULL, &m), 0);
    manifest_release(&m);
    assert_int_equal(parse(OCI_IMAGE, "", &m), 0);
    manifest_release(&m);
}

static void test_oci_index(void **state)
{
    (void)state;
    const char *body =
        "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_INDEX "\",\"manifests\":["
        "{\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST "\",\"digest\":" D_B ",\"size\":500,"
        "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
        "{\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST "\",\"digest\":" D_A ",\"size\":501,"
        "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}}]}";
    struct manifest m;
    assert_int_equal(parse(body, MEDIA_TYPE_OCI_INDEX, &m), 0);
    assert_int_equal(m.kind, MANIFEST_OCI_INDEX);
    assert_ptr_equal(m.media_type, manifest_media_type_of(body, strlen(body)));
    assert_int_equal(m.reference_count, 2);
    assert_int_equal(m.references[0].role, REFERENCE_MANIFEST);
    assert_string_equal(m.references[0].descriptor.digest.string, "sha256:" HEX_B);
    assert_int_equal(m.references[1].role, REFERENCE_MANIFEST);
    assert_string_equal(m.references[1].descriptor.digest.string, "sha256:" HEX_A);
    assert_string_equal(m.artifact_type, "");
    assert_null(m.annotations);
    manifest_release(&m);

    /* No mediaType, no Content-Type: inferred from "manifests". */
    const char *bare = "{\"schemaVersion\":2,\"manifests\":[]}";
    assert_int_equal(parse(bare, NULL, &m), 0);
    assert_int_equal(m.kind, MANIFEST_OCI_INDEX);
    assert_int_equal(m.reference_count, 0);
    manifest_release(&m);
    assert_string_equal(manifest_media_type_of(bare, strlen(bare)), MEDIA_TYPE_OCI_INDEX);
    /* An index with artifactType. */
    const char *typed = "{\"schemaVersion\":2,\"artifactType\":\"application/x.a\","
                        "\"manifests\":[]}";
    assert_int_equal(parse(typed, NULL, &m), 0);
    assert_string_equal(m.artifact_type, "application/x.a");
    manifest_release(&m);
}

static void test_docker(void **state)
{
    (void)state;
    const char *image =
        "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_DOCKER_MANIFEST "\","
        "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
        "\"digest\":" D_A ",\"size\":1},"
        "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\","
        "\"digest\":" D_B ",\"size\":2,\"urls\":[\"https://example.com/layer\"]}]}";
    struct manifest m;
    assert_int_equal(parse(image, MEDIA_TYPE_DOCKER_MANIFEST, &m), 0);
    assert_int_equal(m.kind, MANIFEST_DOCKER_IMAGE);
    assert_string_equal(m.media_type, MEDIA_TYPE_DOCKER_MANIFEST);
    assert_int_equal(m.reference_count, 2);
    assert_int_equal(m.references[1].descriptor.has_urls, 1);
    assert_string_equal(m.artifact_type, "application/vnd.docker.container.image.v1+json");
    manifest_release(&m);
    assert_string_equal(manifest_media_type_of(image, strlen(image)), MEDIA_TYPE_DOCKER_MANIFEST);

    const char *list =
        "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_DOCKER_LIST "\",\"manifests\":["
        "{\"mediaType\":\"" MEDIA_TYPE_DOCKER_MANIFEST "\",\"digest\":" D_C ",\"size\":3,"
        "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}";
    assert_int_equal(parse(list, MEDIA_TYPE_DOCKER_LIST, &m), 0);
    assert_int_equal(m.kind, MANIFEST_DOCKER_LIST);
    assert_int_equal(m.reference_count, 1);
    assert_int_equal(m.references[0].role, REFERENCE_MANIFEST);
    manifest_release(&m);

    /* No mediaType in the body: it is what a GET serves it as (inferred:
     * an OCI image here), and a Content-Type that says otherwise is refused
     * (issue 11's fuzzer find: it was stored as Docker, served as OCI). */
    const char *bare = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x/y\",\"digest\":" D_A
                       ",\"size\":1},\"layers\":[]}";
    assert_int_equal(parse(bare, MEDIA_TYPE_DOCKER_MANIFEST, &m), -EINVAL);
    assert_int_equal(parse(bare, MEDIA_TYPE_OCI_INDEX, &m), -EINVAL);
    assert_int_equal(parse(bare, MEDIA_TYPE_OCI_MANIFEST, &m), 0);
    assert_int_equal(m.kind, MANIFEST_OCI_IMAGE);
    manifest_release(&m);
    assert_int_equal(parse(bare, "application/json", &m), 0);
    assert_int_equal(m.kind, MANIFEST_OCI_IMAGE);
    manifest_release(&m);
    assert_string_equal(manifest_media_type_of(bare, strlen(bare)), MEDIA_TYPE_OCI_MANIFEST);
}

static void test_artifacts_and_subject(void **state)
{
    (void)state;
    const char *artifact =
        "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST "\","
        "\"artifactType\":\"application/vnd.example.sbom+json\","
        "\"config\":{\"mediaType\":\"" MEDIA_TYPE_OCI_EMPTY "\",\"digest\":" D_A ",\"size\":2},"
        "\"layers\":[],"
        "\"subject\":{\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST "\",\"digest\":" D_C
        ",\"size\":9}}";
    struct manifest m;
    assert_int_equal(parse(artifact, MEDIA_TYPE_OCI_MANIFEST, &m), 0);
    assert_string_equal(m.artifact_type, "application/vnd.example.sbom+json");
    assert_int_equal(m.reference_count, 1);
    assert_int_equal(m.references[0].role, REFERENCE_CONFIG);
    assert_string_equal(m.references[0].descriptor.media_type, MEDIA_TYPE_OCI_EMPTY);
    assert_true(m.has_subject);
    assert_string_equal(m.subject.digest.string, "sha256:" HEX_C);
    assert_string_equal(m.subject.media_type, MEDIA_TYPE_OCI_MANIFEST);
    assert_int_equal(m.subject.size, 9);
    manifest_release(&m);

    /* Without artifactType, the config's media type is reported (even the
     * empty type). */
    const char *untyped =
        "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST "\","
        "\"config\":{\"mediaType\":\"application/vnd.example.signature\",\"digest\":" D_A
        ",\"size\":2},\"layers\":[{\"mediaType\":\"application/octet-stream\",\"digest\":" D_B
        ",\"size\":1}]}";
    assert_int_equal(parse(untyped, NULL, &m), 0);
    assert_string_equal(m.artifact_type, "application/vnd.example.signature");
    manifest_release(&m);
    const char *empty_config =
        "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MEDIA_TYPE_OCI_EMPTY "\","
        "\"digest\":" D_A ",\"size\":2},\"layers\":[]}";
    assert_int_equal(parse(empty_config, NULL, &m), 0);
    assert_string_equal(m.artifact_type, MEDIA_TYPE_OCI_EMPTY);
    manifest_release(&m);

    /* A subject on an index. */
    const char *index =
        "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_INDEX "\",\"manifests\":[],"
        "\"subject\":{\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST "\",\"digest\":" D_B
        ",\"size\":1}}";
    assert_int_equal(parse(index, NULL, &m), 0);
    assert_true(m.has_subject);
    manifest_release(&m);
}

static void expect_message(const char *body, const char *content_type, int code,
                           const char *fragment)
{
    int result = rejects(body, content_type);
    if (result != code)
        fail_msg("expected %d, got %d (%s) for %s", code, result, error_message(), body);
    if (fragment != NULL && strstr(error_message(), fragment) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", error_message(), fragment);
}

#define IMAGE_WITH(layers)                                                                         \
    "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"c/t\",\"digest\":" D_A ",\"size\":1},"       \
    "\"layers\":" layers "}"

static void test_rejects(void **state)
{
    (void)state;
    expect_message("", NULL, -EINVAL, "JSON");
    expect_message("not json", NULL, -EINVAL, "JSON");
    expect_message("[]", NULL, -EINVAL, NULL);
    expect_message("\"string\"", NULL, -EINVAL, NULL);
    expect_message(OCI_IMAGE "x", NULL, -EINVAL, "JSON");
    expect_message(OCI_IMAGE "{}", NULL, -EINVAL, "JSON");
    expect_message("{\"schemaVersion\":2,\"schemaVersion\":2,\"manifests\":[]}", NULL, -EINVAL,
                   "JSON");
    expect_message(
        "{\"schemaVersion\":2,\"manifests\":[],\"annotations\":{\"a\":\"1\",\"a\":\"2\"}}", NULL,
        -EINVAL, "JSON");
    expect_message(OCI_IMAGE, MEDIA_TYPE_OCI_INDEX, -EINVAL, "Content-Type");
    expect_message(OCI_IMAGE, MEDIA_TYPE_DOCKER_MANIFEST, -EINVAL, "Content-Type");
    expect_message("{\"schemaVersion\":1,\"manifests\":[]}", NULL, -EINVAL, "schemaVersion");
    expect_message("{\"schemaVersion\":\"2\",\"manifests\":[]}", NULL, -EINVAL, "schemaVersion");
    expect_message("{\"schemaVersion\":2.0,\"manifests\":[]}", NULL, -EINVAL, "schemaVersion");
    expect_message("{\"manifests\":[]}", NULL, -EINVAL, "schemaVersion");
    expect_message("{\"schemaVersion\":2,\"mediaType\":\"application/"
                   "vnd.docker.distribution.manifest.v1+prettyjws\",\"manifests\":[]}",
                   NULL, -EINVAL, "mediaType");
    expect_message("{\"schemaVersion\":2,\"mediaType\":7,\"manifests\":[]}", NULL, -EINVAL,
                   "mediaType");
    expect_message("{\"schemaVersion\":2,\"layers\":[]}", NULL, -EINVAL, "config: missing");
    expect_message("{\"schemaVersion\":2,\"config\":[],\"layers\":[]}", NULL, -EINVAL, "config");
    expect_message("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"c/t\",\"digest\":" D_A
                   ",\"size\":1}}",
                   NULL, -EINVAL, "layers: missing");
    expect_message(IMAGE_WITH("{}"), NULL, -EINVAL, "layers: not an array");
    expect_message("{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_INDEX "\"}", NULL,
                   -EINVAL, "manifests");
    expect_message(IMAGE_WITH("[{\"mediaType\":\"l/t\",\"digest\":" D_B ",\"size\":1},"
                              "{\"mediaType\":\"l/t\",\"digest\":\"sha256:abc\",\"size\":1}]"),
                   NULL, -EINVAL, "layers[1].digest: invalid digest");
    expect_message(IMAGE_WITH("[{\"mediaType\":\"l/t\",\"digest\":\"sha256:" HEX_A "\"}]"), NULL,
                   -EINVAL, "layers[0].size");
    expect_message(IMAGE_WITH("[{\"mediaType\":\"l/t\",\"digest\":" D_B ",\"size\":-1}]"), NULL,
                   -EINVAL, "layers[0].size");
    expect_message(IMAGE_WITH("[{\"mediaType\":\"l/t\",\"digest\":" D_B ",\"size\":1.5}]"), NULL,
                   -EINVAL, "layers[0].size");
    expect_message(IMAGE_WITH("[{\"mediaType\":\"\",\"digest\":" D_B ",\"size\":1}]"), NULL,
                   -EINVAL, "layers[0].mediaType");
    expect_message(IMAGE_WITH("[{\"digest\":" D_B ",\"size\":1}]"), NULL, -EINVAL,
                   "layers[0].mediaType");
    expect_message(IMAGE_WITH("[{\"mediaType\":\"l/t\",\"size\":1}]"), NULL, -EINVAL,
                   "layers[0].digest");
    expect_message(
        IMAGE_WITH("[{\"mediaType\":\"l/t\",\"digest\":\"SHA256:" HEX_A "\",\"size\":1}]"), NULL,
        -EINVAL, "layers[0].digest");
    expect_message(IMAGE_WITH("[{\"mediaType\":\"l/t\",\"digest\":" D_B ",\"size\":1,\"urls\":1}]"),
                   NULL, -EINVAL, "urls");
    expect_message(IMAGE_WITH("[7]"), NULL, -EINVAL, "layers[0]");
    expect_message("{\"schemaVersion\":2,\"manifests\":[],\"annotations\":{\"a\":1}}", NULL,
                   -EINVAL, "annotations");
    expect_message("{\"schemaVersion\":2,\"manifests\":[],\"annotations\":[]}", NULL, -EINVAL,
                   "annotations");
    expect_message("{\"schemaVersion\":2,\"manifests\":[],\"artifactType\":5}", NULL, -EINVAL,
                   "artifactType");
    expect_message("{\"schemaVersion\":2,\"manifests\":[],\"subject\":{}}", NULL, -EINVAL,
                   "subject");

    /* A media type longer than MEDIA_TYPE_MAX - 1. */
    char body[2048], type[MEDIA_TYPE_MAX + 1];
    memset(type, 't', MEDIA_TYPE_MAX);
    type[MEDIA_TYPE_MAX] = '\0';
    snprintf(body, sizeof body,
             IMAGE_WITH("[{\"mediaType\":\"%s\",\"digest\":" D_B ",\"size\":1}]"), type);
    expect_message(body, NULL, -EINVAL, "layers[0].mediaType");
    type[MEDIA_TYPE_MAX - 1] = '\0';
    snprintf(body, sizeof body,
             IMAGE_WITH("[{\"mediaType\":\"%s\",\"digest\":" D_B ",\"size\":1}]"), type);
    struct manifest m;
    assert_int_equal(parse(body, NULL, &m), 0);
    manifest_release(&m);

    /* A NUL inside the body. */
    const char with_nul[] = "{\"schemaVersion\":2,\"manifests\":[]}\0";
    assert_int_equal(manifest_parse(with_nul, sizeof with_nul - 1, NULL, &m), -EINVAL);
}

static void test_too_big(void **state)
{
    (void)state;
    size_t length = MANIFEST_SIZE_MAX + 1;
    char *body = malloc(length);
    assert_non_null(body);
    memset(body, ' ', length);
    body[0] = '{';
    body[length - 1] = '}';
    struct manifest m;
    assert_int_equal(manifest_parse(body, length, NULL, &m), -EFBIG);
    assert_null(manifest_media_type_of(body, length));
    free(body);
}

static void test_media_type_helpers(void **state)
{
    (void)state;
    assert_true(manifest_media_type_is_known(MEDIA_TYPE_OCI_MANIFEST));
    assert_true(manifest_media_type_is_known(MEDIA_TYPE_OCI_INDEX));
    assert_true(manifest_media_type_is_known(MEDIA_TYPE_DOCKER_MANIFEST));
    assert_true(manifest_media_type_is_known(MEDIA_TYPE_DOCKER_LIST));
    assert_false(manifest_media_type_is_known(MEDIA_TYPE_OCI_EMPTY));
    assert_false(manifest_media_type_is_known("application/json"));
    assert_false(manifest_media_type_is_known(""));
    assert_false(manifest_media_type_is_known(NULL));

    const char *list =
        "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_DOCKER_LIST "\",\"manifests\":[]}";
    const char *type = manifest_media_type_of(list, strlen(list));
    assert_ptr_equal(type, manifest_media_type_of(list, strlen(list)));
    assert_string_equal(type, MEDIA_TYPE_DOCKER_LIST);
    assert_null(manifest_media_type_of("garbage", 7));
    assert_null(manifest_media_type_of("[]", 2));
    const char *unknown = "{\"schemaVersion\":2,\"mediaType\":\"text/plain\"}";
    assert_null(manifest_media_type_of(unknown, strlen(unknown)));
    const char *old = "{\"schemaVersion\":1,\"name\":\"x\"}";
    assert_null(manifest_media_type_of(old, strlen(old)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oci_image),
        cmocka_unit_test(test_oci_index),
        cmocka_unit_test(test_docker),
        cmocka_unit_test(test_artifacts_and_subject),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_media_type_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
