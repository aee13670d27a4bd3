/* Unit tests for src/registry/referrers.h: the referrers index of a
 * manifest, its filter, and what it leaves out. */
#include "gc_test_tree.h"

#include <jansson.h>

#include "src/registry/referrers.h"
#include "src/registry/registry_error.h"
#include "src/registry/repository.h"

static void test_index_lists_present_referrers(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object subject = gc_simple_image(&fixture, "app", "subject", "v1", NULL);
    struct gc_object signature = gc_image(&fixture, "app", "sig", NULL, 0, NULL, &subject);
    struct gc_object deleted = gc_image(&fixture, "app", "old", NULL, 0, NULL, &subject);
    /* A referrer link whose revision is gone is left out. */
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_revision_link(&fixture.tree, "app", &deleted.digest, path), 0);
    assert_int_equal(unlink(path), 0);

    json_t *index = NULL;
    assert_int_equal(
        referrers_index(&fixture.tree, fixture.store, "app", &subject.digest, NULL, &index), 0);
    assert_int_equal(json_integer_value(json_object_get(index, "schemaVersion")), 2);
    assert_string_equal(json_string_value(json_object_get(index, "mediaType")),
                        MEDIA_TYPE_OCI_INDEX);
    json_t *manifests = json_object_get(index, "manifests");
    assert_int_equal(json_array_size(manifests), 1);
    json_t *descriptor = json_array_get(manifests, 0);
    assert_string_equal(json_string_value(json_object_get(descriptor, "digest")),
                        signature.digest.string);
    assert_int_equal(json_integer_value(json_object_get(descriptor, "size")), signature.size);
    assert_string_equal(json_string_value(json_object_get(descriptor, "mediaType")),
                        MEDIA_TYPE_OCI_MANIFEST);
    /* An image manifest without artifactType reports its config's type. */
    assert_string_equal(json_string_value(json_object_get(descriptor, "artifactType")),
                        "application/vnd.oci.image.config.v1+json");
    json_decref(index);

    assert_int_equal(referrers_index(&fixture.tree, fixture.store, "app", &subject.digest,
                                     "application/example", &index),
                     0);
    assert_int_equal(json_array_size(json_object_get(index, "manifests")), 0);
    json_decref(index);

    /* No referrers: an empty index. */
    assert_int_equal(
        referrers_index(&fixture.tree, fixture.store, "app", &signature.digest, NULL, &index), 0);
    assert_int_equal(json_array_size(json_object_get(index, "manifests")), 0);
    json_decref(index);

    assert_int_equal(
        referrers_index(&fixture.tree, fixture.store, "other", &subject.digest, NULL, &index),
        -REGISTRY_ERROR_NAME_UNKNOWN);
    assert_null(index);
    gc_fixture_close(&fixture);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_lists_present_referrers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
