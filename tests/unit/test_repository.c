/* Unit tests for src/registry/repository.h: manifests and tags put, resolved,
 * read and deleted in a temporary tree, with the files each step leaves and
 * the order of removals of a deletion. */
#include "gc_test_tree.h"

#include <errno.h>
#include <pthread.h>

#include "src/registry/registry_error.h"
#include "src/registry/repository.h"

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static int revision_exists(struct gc_fixture *fixture, const char *name,
                           const struct digest *digest)
{
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_revision_link(&fixture->tree, name, digest, path), 0);
    return exists(path);
}

static int tag_exists(struct gc_fixture *fixture, const char *name, const char *tag)
{
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_tag_directory(&fixture->tree, name, tag, path), 0);
    return exists(path);
}

static int tag_index_exists(struct gc_fixture *fixture, const char *name, const char *tag,
                            const struct digest *digest)
{
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_tag_index_link(&fixture->tree, name, tag, digest, path), 0);
    return exists(path);
}

static int referrer_exists(struct gc_fixture *fixture, const char *name,
                           const struct digest *subject, const struct digest *digest)
{
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_referrer_link(&fixture->tree, name, subject, digest, path), 0);
    return exists(path);
}

/* An image manifest body referencing `config` and `layer` (and `subject`). */
static void image_body(char *out, size_t size, const struct gc_object *config,
                       const struct gc_object *layer, const struct gc_object *subject)
{
    char config_descriptor[512], layer_descriptor[512], subject_part[600] = "";
    gc_descriptor(config_descriptor, sizeof config_descriptor,
                  "application/vnd.oci.image.config.v1+json", config);
    gc_descriptor(layer_descriptor, sizeof layer_descriptor,
                  "application/vnd.oci.image.layer.v1.tar+gzip", layer);
    if (subject != NULL) {
        char descriptor[512];
        gc_descriptor(descriptor, sizeof descriptor, MEDIA_TYPE_OCI_MANIFEST, subject);
        snprintf(subject_part, sizeof subject_part, ",\"subject\":%s", descriptor);
    }
    int length = snprintf(out, size,
                          "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST
                          "\",\"config\":%s,\"layers\":[%s]%s}",
                          config_descriptor, layer_descriptor, subject_part);
    assert_true(length > 0 && (size_t)length < size);
}

static void test_put_by_tag_writes_blob_revision_and_tag(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object config = gc_layer(&fixture, "app", "{\"config\":1}");
    struct gc_object layer = gc_layer(&fixture, "app", "layer bytes");
    char body[2048];
    image_body(body, sizeof body, &config, &layer, NULL);

    struct manifest_put_result put;
    assert_int_equal(repository_put_manifest(&fixture.tree, fixture.store, "app", "v1",
                                             MEDIA_TYPE_OCI_MANIFEST, body, strlen(body), &put),
                     0);
    struct digest expected;
    assert_int_equal(digest_of_buffer(DIGEST_SHA256, body, strlen(body), &expected), 0);
    assert_true(digest_equal(&put.digest, &expected));
    assert_false(put.has_subject);
    struct gc_object stored = {.digest = put.digest};
    assert_true(gc_blob_exists(&fixture, &stored));
    assert_true(revision_exists(&fixture, "app", &put.digest));
    assert_true(tag_index_exists(&fixture, "app", "v1", &put.digest));
    assert_int_equal(repository_exists(&fixture.tree, "app"), 1);

    struct digest resolved;
    int is_tag = 0;
    assert_int_equal(repository_resolve_manifest(&fixture.tree, "app", "v1", &resolved, &is_tag),
                     0);
    assert_true(is_tag);
    assert_true(digest_equal(&resolved, &put.digest));
    assert_int_equal(
        repository_resolve_manifest(&fixture.tree, "app", put.digest.string, &resolved, &is_tag),
        0);
    assert_false(is_tag);

    char *read = NULL;
    size_t length = 0;
    const char *media_type = NULL;
    assert_int_equal(
        repository_read_manifest(fixture.store, &put.digest, &read, &length, &media_type), 0);
    assert_int_equal(length, strlen(body));
    assert_memory_equal(read, body, length);
    assert_string_equal(media_type, MEDIA_TYPE_OCI_MANIFEST);
    free(read);
    gc_fixture_close(&fixture);
}

static void test_put_refuses_and_writes_nothing(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object config = gc_layer(&fixture, "app", "{\"config\":2}");
    struct gc_object unlinked = gc_put(&fixture, "a blob app does not link");
    char body[2048];
    image_body(body, sizeof body, &config, &unlinked, NULL);
    struct digest digest;
    assert_int_equal(digest_of_buffer(DIGEST_SHA256, body, strlen(body), &digest), 0);
    struct manifest_put_result put;

    assert_int_equal(repository_put_manifest(&fixture.tree, fixture.store, "app", "v1", NULL, body,
                                             strlen(body), &put),
                     -REGISTRY_ERROR_MANIFEST_BLOB_UNKNOWN);
    assert_false(revision_exists(&fixture, "app", &digest));
    assert_false(tag_exists(&fixture, "app", "v1"));

    assert_int_equal(repository_put_manifest(&fixture.tree, fixture.store, "app", ".bad", NULL,
                                             body, strlen(body), &put),
                     -REGISTRY_ERROR_TAG_INVALID);
    assert_int_equal(repository_put_manifest(&fixture.tree, fixture.store, "app", "sha256:" HEX_A,
                                             NULL, body, strlen(body), &put),
                     -REGISTRY_ERROR_DIGEST_INVALID);
    assert_int_equal(
        repository_put_manifest(&fixture.tree, fixture.store, "app", "v1", NULL, "{}", 2, &put),
        -REGISTRY_ERROR_MANIFEST_INVALID);
    assert_false(revision_exists(&fixture, "app", &digest));
    gc_fixture_close(&fixture);
}

static void test_resolve_unknown(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    gc_simple_image(&fixture, "app", "one", "v1", NULL);
    struct digest digest;
    assert_int_equal(repository_resolve_manifest(&fixture.tree, "app", "v2", &digest, NULL),
                     -REGISTRY_ERROR_MANIFEST_UNKNOWN);
    assert_int_equal(
        repository_resolve_manifest(&fixture.tree, "app", "sha256:" HEX_A, &digest, NULL),
        -REGISTRY_ERROR_MANIFEST_UNKNOWN);
    assert_int_equal(
        repository_resolve_manifest(&fixture.tree, "app", "sha256:nothex", &digest, NULL),
        -REGISTRY_ERROR_MANIFEST_UNKNOWN);
    assert_int_equal(repository_resolve_manifest(&fixture.tree, "other", "v1", &digest, NULL),
                     -REGISTRY_ERROR_NAME_UNKNOWN);
    gc_fixture_close(&fixture);
}

/* DELETE by digest: the tags naming it go whole, the other tags lose only
 * their history entry, the referrer entry goes, the revision goes, the
 * blob stays. */
static void test_delete_manifest_removes_what_names_it(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object subject = gc_simple_image(&fixture, "app", "subject", "base", NULL);
    struct gc_object old = gc_image(&fixture, "app", "old", NULL, 0, "latest", &subject);
    gc_tag(&fixture, "app", "pinned", &old.digest);
    struct gc_object newer = gc_simple_image(&fixture, "app", "newer", "latest", NULL);
    /* "latest" now names `newer`; its history still names `old`. */
    assert_true(tag_index_exists(&fixture, "app", "latest", &old.digest));
    assert_true(referrer_exists(&fixture, "app", &subject.digest, &old.digest));

    assert_int_equal(repository_delete_manifest(&fixture.tree, fixture.store, "app", &old.digest),
                     0);
    assert_false(revision_exists(&fixture, "app", &old.digest));
    assert_false(tag_exists(&fixture, "app", "pinned"));
    assert_true(tag_exists(&fixture, "app", "latest"));
    assert_false(tag_index_exists(&fixture, "app", "latest", &old.digest));
    assert_true(tag_index_exists(&fixture, "app", "latest", &newer.digest));
    assert_false(referrer_exists(&fixture, "app", &subject.digest, &old.digest));
    assert_true(gc_blob_exists(&fixture, &old));
    assert_true(revision_exists(&fixture, "app", &subject.digest));
    assert_true(tag_exists(&fixture, "app", "base"));

    assert_int_equal(repository_delete_manifest(&fixture.tree, fixture.store, "app", &old.digest),
                     -REGISTRY_ERROR_MANIFEST_UNKNOWN);
    gc_fixture_close(&fixture);
}

/* A manifest whose blob cannot be read: its referrer entry is found under
 * any subject. */
static void test_delete_manifest_without_blob_finds_its_referrer_entry(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object subject = gc_simple_image(&fixture, "app", "subject", "base", NULL);
    struct gc_object signature = gc_image(&fixture, "app", "sig", NULL, 0, NULL, &subject);
    char path[TREE_PATH_MAX];
    gc_blob_path(&fixture, &signature.digest, path);
    assert_int_equal(unlink(path), 0);

    assert_int_equal(
        repository_delete_manifest(&fixture.tree, fixture.store, "app", &signature.digest), 0);
    assert_false(referrer_exists(&fixture, "app", &subject.digest, &signature.digest));
    assert_false(revision_exists(&fixture, "app", &signature.digest));
    gc_fixture_close(&fixture);
}

/* cairn-gc's rule: a manifest a tag names is refused and nothing removed. */
static void test_delete_untagged_only_refuses_a_tagged_manifest(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object subject = gc_simple_image(&fixture, "app", "subject", "base", NULL);
    struct gc_object image = gc_image(&fixture, "app", "tagged", NULL, 0, "v1", &subject);
    gc_tag(&fixture, "app", "history", &image.digest);
    gc_simple_image(&fixture, "app", "later", "history", NULL);
    struct manifest_deletion how = {.untagged_only = 1};

    assert_int_equal(
        repository_delete_manifest_as(&fixture.tree, fixture.store, "app", &image.digest, &how),
        -EBUSY);
    assert_true(revision_exists(&fixture, "app", &image.digest));
    assert_true(tag_exists(&fixture, "app", "v1"));
    assert_true(tag_index_exists(&fixture, "app", "history", &image.digest));
    assert_true(referrer_exists(&fixture, "app", &subject.digest, &image.digest));

    /* Untagged now: deleted, with the subject the caller already knew. */
    assert_int_equal(repository_delete_tag(&fixture.tree, "app", "v1"), 0);
    how.subject_known = 1;
    how.has_subject = 1;
    how.subject = subject.digest;
    assert_int_equal(
        repository_delete_manifest_as(&fixture.tree, fixture.store, "app", &image.digest, &how), 0);
    assert_false(revision_exists(&fixture, "app", &image.digest));
    assert_false(tag_index_exists(&fixture, "app", "history", &image.digest));
    assert_true(tag_exists(&fixture, "app", "history"));
    assert_false(referrer_exists(&fixture, "app", &subject.digest, &image.digest));
    gc_fixture_close(&fixture);
}

static void test_delete_tag_keeps_the_revision(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object image = gc_simple_image(&fixture, "app", "one", "v1", NULL);
    assert_int_equal(repository_delete_tag(&fixture.tree, "app", "v1"), 0);
    assert_false(tag_exists(&fixture, "app", "v1"));
    assert_true(revision_exists(&fixture, "app", &image.digest));
    assert_int_equal(repository_delete_tag(&fixture.tree, "app", "v1"),
                     -REGISTRY_ERROR_MANIFEST_UNKNOWN);
    gc_fixture_close(&fixture);
}

/* A PUT by tag and a DELETE of the same manifest, started together many
 * times: whichever wins, afterwards every tag directory has its current
 * link and names a revision the repository holds (a DELETE must not scan
 * the tags, let the PUT tag the manifest, then remove its revision). */
struct race {
    struct gc_fixture *fixture;
    pthread_barrier_t *start;
    const char *body;
    struct digest digest;
    int deleter;
};

#define RACE_EPISODES 60

static void *race_run(void *argument)
{
    struct race *race = argument;
    struct manifest_put_result put;
    pthread_barrier_wait(race->start);
    if (race->deleter)
        repository_delete_manifest(&race->fixture->tree, race->fixture->store, "app",
                                   &race->digest);
    else
        repository_put_manifest(&race->fixture->tree, race->fixture->store, "app", "t",
                                MEDIA_TYPE_OCI_MANIFEST, race->body, strlen(race->body), &put);
    return NULL;
}

static void test_racing_put_and_delete_leave_no_tag_without_revision(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object config = gc_layer(&fixture, "app", "{\"config\":2}");
    struct gc_object layer = gc_layer(&fixture, "app", "racing layer");
    char body[2048];
    image_body(body, sizeof body, &config, &layer, NULL);
    pthread_barrier_t start;
    struct race races[2];
    for (int i = 0; i < 2; i++) {
        races[i] = (struct race){.fixture = &fixture, .start = &start, .body = body, .deleter = i};
        assert_int_equal(digest_of_buffer(DIGEST_SHA256, body, strlen(body), &races[i].digest), 0);
    }
    int broken = 0;
    for (int episode = 0; episode < RACE_EPISODES && !broken; episode++) {
        struct manifest_put_result put;
        assert_int_equal(repository_put_manifest(&fixture.tree, fixture.store, "app", "t",
                                                 MEDIA_TYPE_OCI_MANIFEST, body, strlen(body), &put),
                         0);
        pthread_t threads[2];
        assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&threads[i], NULL, race_run, &races[i]), 0);
        for (int i = 0; i < 2; i++)
            pthread_join(threads[i], NULL);
        pthread_barrier_destroy(&start);

        char path[TREE_PATH_MAX];
        struct digest target;
        assert_int_equal(tree_path_tag_current_link(&fixture.tree, "app", "t", path), 0);
        if (link_file_read(path, &target) == 0 && !revision_exists(&fixture, "app", &target))
            broken = episode + 1;
    }
    assert_int_equal(broken, 0);
    gc_fixture_close(&fixture);
}

static void test_link_stat_and_unlink_blob(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object blob = gc_layer(&fixture, "source", "shared layer");
    struct blob_info info;
    assert_int_equal(
        repository_stat_blob(&fixture.tree, fixture.store, "target", &blob.digest, &info),
        -REGISTRY_ERROR_BLOB_UNKNOWN);
    assert_int_equal(repository_link_blob(&fixture.tree, fixture.store, "target", &blob.digest), 0);
    assert_int_equal(
        repository_stat_blob(&fixture.tree, fixture.store, "target", &blob.digest, &info), 0);
    assert_int_equal(info.size, blob.size);

    struct digest absent = support_digest("sha256:" HEX_B);
    assert_int_equal(repository_link_blob(&fixture.tree, fixture.store, "target", &absent),
                     -REGISTRY_ERROR_BLOB_UNKNOWN);

    assert_int_equal(repository_unlink_blob(&fixture.tree, "target", &blob.digest), 0);
    assert_int_equal(repository_stat_blob(&fixture.tree, NULL, "target", &blob.digest, NULL),
                     -REGISTRY_ERROR_BLOB_UNKNOWN);
    assert_int_equal(repository_unlink_blob(&fixture.tree, "target", &blob.digest),
                     -REGISTRY_ERROR_BLOB_UNKNOWN);
    assert_true(gc_blob_exists(&fixture, &blob));
    gc_fixture_close(&fixture);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_by_tag_writes_blob_revision_and_tag),
        cmocka_unit_test(test_put_refuses_and_writes_nothing),
        cmocka_unit_test(test_resolve_unknown),
        cmocka_unit_test(test_delete_manifest_removes_what_names_it),
        cmocka_unit_test(test_delete_manifest_without_blob_finds_its_referrer_entry),
        cmocka_unit_test(test_delete_untagged_only_refuses_a_tagged_manifest),
        cmocka_unit_test(test_delete_tag_keeps_the_revision),
        cmocka_unit_test(test_racing_put_and_delete_leave_no_tag_without_revision),
        cmocka_unit_test(test_link_stat_and_unlink_blob),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
