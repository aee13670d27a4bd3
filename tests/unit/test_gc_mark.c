/* Unit tests for tools/gc_mark.c: the digest set and what the mark keeps. */
#include "gc_test_tree.h"

#include "tools/gc_mark.h"

#include <fcntl.h>
#include <sys/stat.h>

static int marked(struct gc_mark *mark, const struct gc_object *object)
{
    return gc_digest_set_contains(&mark->blobs, &object->digest);
}

static int kept(struct gc_mark *mark, const char *name, const struct gc_object *manifest)
{
    struct gc_repository *repository = gc_mark_find_repository(mark, name);
    assert_non_null(repository);
    return gc_digest_set_contains(&repository->kept, &manifest->digest);
}

static void run_mark(struct gc_fixture *fixture, struct gc_mark *mark, int delete_untagged)
{
    gc_mark_init(mark, delete_untagged);
    assert_int_equal(gc_mark_tree(mark, &fixture->tree, fixture->store), 0);
}

static void test_digest_set(void **state)
{
    (void)state;
    enum { COUNT = 50000 };
    struct gc_digest_set set = {0};
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (unsigned i = 0; i < COUNT; i++) {
        struct digest digest;
        assert_int_equal(digest_of_buffer(DIGEST_SHA256, &i, sizeof i, &digest), 0);
        assert_int_equal(gc_digest_set_add(&set, &digest), 1);
        assert_int_equal(gc_digest_set_add(&set, &digest), 0);
    }
    assert_int_equal(set.count, COUNT);
    for (unsigned i = 0; i < 2 * COUNT; i++) {
        struct digest digest;
        assert_int_equal(digest_of_buffer(DIGEST_SHA256, &i, sizeof i, &digest), 0);
        assert_int_equal(gc_digest_set_contains(&set, &digest), i < COUNT);
    }
    /* sha512 with the same leading hex as a sha256 member is another digest. */
    struct digest sha256 = set.items[0], sha512;
    char text[DIGEST_STRING_MAX];
    snprintf(text, sizeof text, "sha512:%s%s", digest_hex(&sha256), digest_hex(&sha256));
    assert_int_equal(digest_parse(text, strlen(text), &sha512), 0);
    assert_false(gc_digest_set_contains(&set, &sha512));
    gc_digest_set_sort(&set);
    for (size_t i = 1; i < set.count; i++)
        assert_true(strcmp(set.items[i - 1].string, set.items[i].string) < 0);
    assert_true(gc_digest_set_contains(&set, &sha256));
    clock_gettime(CLOCK_MONOTONIC, &end);
    /* 150,000 hashes and 250,000 operations: well under a second. */
    assert_true(end.tv_sec - start.tv_sec < 5);
    gc_digest_set_clear(&set);
    assert_false(gc_digest_set_contains(&set, &sha256));
}

static void test_tagged_image(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object layer;
    struct gc_object image = gc_simple_image(&fixture, "library/app", "app", "v1", &layer);
    struct gc_object stray = gc_layer(&fixture, "library/app", "never referenced");
    struct gc_object orphan = gc_put(&fixture, "linked nowhere");
    struct gc_mark mark;
    for (int delete_untagged = 0; delete_untagged <= 1; delete_untagged++) {
        run_mark(&fixture, &mark, delete_untagged);
        assert_true(gc_mark_is_complete(&mark));
        assert_int_equal(mark.repository_count, 1);
        assert_true(kept(&mark, "library/app", &image));
        assert_true(marked(&mark, &image));
        assert_true(marked(&mark, &layer));
        assert_false(marked(&mark, &stray));
        assert_false(marked(&mark, &orphan));
        assert_int_equal(mark.manifests, 1);
        assert_int_equal(mark.blobs.count, 3); /* manifest, config, layer */
        gc_mark_release(&mark);
    }
    gc_fixture_close(&fixture);
}

static void test_untagged_revisions(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object old_layer, new_layer;
    struct gc_object old = gc_simple_image(&fixture, "app", "old", NULL, &old_layer);
    struct gc_object current = gc_simple_image(&fixture, "app", "new", "latest", &new_layer);
    /* A revision directory without a link (Distribution after a delete). */
    char path[TREE_PATH_MAX];
    struct gc_object deleted = gc_simple_image(&fixture, "app", "deleted", NULL, NULL);
    assert_int_equal(tree_path_revision_link(&fixture.tree, "app", &deleted.digest, path), 0);
    assert_int_equal(unlink(path), 0);

    struct gc_mark mark;
    run_mark(&fixture, &mark, 0);
    assert_true(kept(&mark, "app", &old));
    assert_true(kept(&mark, "app", &current));
    assert_true(marked(&mark, &old_layer));
    assert_false(kept(&mark, "app", &deleted));
    assert_false(marked(&mark, &deleted));
    assert_int_equal(mark.manifests, 2);
    gc_mark_release(&mark);

    run_mark(&fixture, &mark, 1);
    assert_false(kept(&mark, "app", &old));
    assert_false(marked(&mark, &old));
    assert_false(marked(&mark, &old_layer));
    assert_true(kept(&mark, "app", &current));
    assert_true(marked(&mark, &new_layer));
    assert_int_equal(mark.manifests, 1);
    struct gc_repository *repository = gc_mark_find_repository(&mark, "app");
    assert_int_equal(repository->revision_count, 2); /* the link-less one is no revision */
    gc_mark_release(&mark);
    gc_fixture_close(&fixture);
}

/* Sets the revision link's time `seconds` back: a manifest not pulled since. */
static void age_revision(struct gc_fixture *fixture, const char *name,
                         const struct gc_object *manifest, long seconds)
{
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_revision_link(&fixture->tree, name, &manifest->digest, path), 0);
    struct timespec times[2] = {{.tv_sec = time(NULL) - seconds}, {.tv_sec = time(NULL) - seconds}};
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
}

/* A mirror's eviction: under its prefix only what was pulled since stays
 * (a tag does not keep what nobody pulled); elsewhere nothing changes. */
static void test_eviction(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object old_layer, new_layer, local_layer;
    struct gc_object old = gc_simple_image(&fixture, "hub/app", "old", "v1", &old_layer);
    struct gc_object untagged = gc_simple_image(&fixture, "hub/app", "untagged", NULL, NULL);
    struct gc_object current = gc_simple_image(&fixture, "hub/app", "new", "v2", &new_layer);
    struct gc_object local = gc_simple_image(&fixture, "hubcap", "local", "v1", &local_layer);
    age_revision(&fixture, "hub/app", &old, 7200);
    age_revision(&fixture, "hub/app", &untagged, 7200);
    age_revision(&fixture, "hubcap", &local, 7200);
    const struct upstream_settings mirrors[] = {
        {.prefix = "hub", .url = "http://127.0.0.1:9", .evict_after_seconds = 3600},
        {.prefix = "", .url = "http://127.0.0.1:9"}, /* proxy: that does not evict */
    };
    struct gc_mark mark;
    for (int delete_untagged = 0; delete_untagged <= 1; delete_untagged++) {
        gc_mark_init(&mark, delete_untagged);
        mark.mirrors = mirrors;
        mark.mirror_count = 2;
        mark.now = (long long)time(NULL);
        assert_int_equal(gc_mark_tree(&mark, &fixture.tree, fixture.store), 0);
        assert_true(gc_mark_is_complete(&mark));
        assert_false(kept(&mark, "hub/app", &old));
        assert_false(marked(&mark, &old_layer));
        assert_false(kept(&mark, "hub/app", &untagged));
        assert_true(kept(&mark, "hub/app", &current));
        assert_true(marked(&mark, &new_layer));
        assert_true(kept(&mark, "hubcap", &local)); /* not under hub/: local */
        assert_true(marked(&mark, &local_layer));
        struct gc_repository *repository = gc_mark_find_repository(&mark, "hub/app");
        assert_true(repository->pulled_since > 0);
        assert_true(gc_repository_is_unpulled(repository, &old.digest));
        assert_false(gc_repository_is_unpulled(repository, &current.digest));
        assert_int_equal(gc_mark_find_repository(&mark, "hubcap")->pulled_since, 0);
        gc_mark_release(&mark);
    }
    gc_fixture_close(&fixture);
}

static void test_indexes(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object amd64_layer, arm64_layer, inner_layer;
    struct gc_object children[2] = {
        gc_simple_image(&fixture, "multi", "amd64", NULL, &amd64_layer),
        gc_simple_image(&fixture, "multi", "arm64", NULL, &arm64_layer),
    };
    struct gc_object index = gc_index(&fixture, "multi", children, 2, "v1");
    /* Nested: index -> index -> image, the outer one tagged. */
    struct gc_object inner_image = gc_simple_image(&fixture, "multi", "inner", NULL, &inner_layer);
    struct gc_object inner_index = gc_index(&fixture, "multi", &inner_image, 1, NULL);
    struct gc_object outer_index = gc_index(&fixture, "multi", &inner_index, 1, "nested");
    /* An untagged index and its untagged child: not kept. */
    struct gc_object lost_layer;
    struct gc_object lost_child = gc_simple_image(&fixture, "multi", "lost", NULL, &lost_layer);
    struct gc_object lost_index = gc_index(&fixture, "multi", &lost_child, 1, NULL);

    struct gc_mark mark;
    run_mark(&fixture, &mark, 1);
    assert_true(gc_mark_is_complete(&mark));
    assert_true(kept(&mark, "multi", &index));
    assert_true(kept(&mark, "multi", &children[0]));
    assert_true(kept(&mark, "multi", &children[1]));
    assert_true(marked(&mark, &amd64_layer));
    assert_true(marked(&mark, &arm64_layer));
    assert_true(kept(&mark, "multi", &outer_index));
    assert_true(kept(&mark, "multi", &inner_index));
    assert_true(kept(&mark, "multi", &inner_image));
    assert_true(marked(&mark, &inner_layer));
    assert_false(kept(&mark, "multi", &lost_index));
    assert_false(kept(&mark, "multi", &lost_child));
    assert_false(marked(&mark, &lost_layer));
    assert_int_equal(mark.manifests, 6);
    gc_mark_release(&mark);
    gc_fixture_close(&fixture);
}

static void test_referrers(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object subject = gc_simple_image(&fixture, "signed", "subject", "v1", NULL);
    /* A signature (untagged referrer), a signature of the signature, and an
     * SBOM recorded without a referrers entry (a Distribution-written tree). */
    struct gc_object signature_layer = gc_layer(&fixture, "signed", "signature bytes");
    struct gc_object signature =
        gc_image(&fixture, "signed", "signature", &signature_layer, 1, NULL, &subject);
    struct gc_object countersign_layer = gc_layer(&fixture, "signed", "countersignature");
    struct gc_object countersign =
        gc_image(&fixture, "signed", "countersign", &countersign_layer, 1, NULL, &signature);
    struct gc_object sbom_layer = gc_layer(&fixture, "signed", "sbom");
    char body[2048], config[512], layer[512], subject_text[512];
    struct gc_object sbom_config = gc_layer(&fixture, "signed", "{}");
    gc_descriptor(config, sizeof config, MEDIA_TYPE_OCI_EMPTY, &sbom_config);
    gc_descriptor(layer, sizeof layer, "application/spdx+json", &sbom_layer);
    gc_descriptor(subject_text, sizeof subject_text, MEDIA_TYPE_OCI_MANIFEST, &subject);
    snprintf(body, sizeof body,
             "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST
             "\",\"artifactType\":\"application/spdx+json\",\"config\":%s,\"layers\":[%s],"
             "\"subject\":%s}",
             config, layer, subject_text);
    struct gc_object sbom = gc_manifest_bytes(&fixture, "signed", body, NULL, &subject, 0);
    /* A referrer of an untagged manifest: goes with it. */
    struct gc_object untagged = gc_simple_image(&fixture, "signed", "untagged", NULL, NULL);
    struct gc_object orphan_layer = gc_layer(&fixture, "signed", "orphan signature");
    struct gc_object orphan_signature =
        gc_image(&fixture, "signed", "orphan", &orphan_layer, 1, NULL, &untagged);

    struct gc_mark mark;
    run_mark(&fixture, &mark, 1);
    assert_true(gc_mark_is_complete(&mark));
    assert_true(kept(&mark, "signed", &subject));
    assert_true(kept(&mark, "signed", &signature));
    assert_true(marked(&mark, &signature_layer));
    assert_true(kept(&mark, "signed", &countersign));
    assert_true(marked(&mark, &countersign_layer));
    assert_true(kept(&mark, "signed", &sbom));
    assert_true(marked(&mark, &sbom_layer));
    assert_false(kept(&mark, "signed", &untagged));
    assert_false(kept(&mark, "signed", &orphan_signature));
    assert_false(marked(&mark, &orphan_layer));
    gc_mark_release(&mark);
    gc_fixture_close(&fixture);
}

static void test_unparseable_manifests(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object schema1_layer = gc_layer(&fixture, "legacy", "schema 1 layer");
    struct gc_object other_layer = gc_layer(&fixture, "legacy", "another layer");
    char body[1024];
    snprintf(body, sizeof body,
             "{\"schemaVersion\":1,\"name\":\"legacy\",\"tag\":\"old\",\"fsLayers\":"
             "[{\"blobSum\":\"%s\"}],\"signatures\":[]}",
             schema1_layer.digest.string);
    struct gc_object schema1 = gc_manifest_bytes(&fixture, "legacy", body, "old", NULL, 0);
    struct gc_object garbage = gc_manifest_bytes(&fixture, "junk", "not json at all", "x", NULL, 0);
    struct gc_object junk_layer = gc_layer(&fixture, "junk", "junk layer");
    /* In another repository, an unlinked blob stays unmarked. */
    struct gc_object elsewhere = gc_layer(&fixture, "clean", "clean layer");

    struct gc_mark mark;
    run_mark(&fixture, &mark, 1);
    assert_true(gc_mark_is_complete(&mark));
    assert_int_equal(mark.unparseable, 2);
    assert_true(kept(&mark, "legacy", &schema1));
    assert_true(marked(&mark, &schema1));
    assert_true(marked(&mark, &schema1_layer));
    assert_true(marked(&mark, &other_layer));
    assert_true(kept(&mark, "junk", &garbage));
    assert_true(marked(&mark, &junk_layer));
    assert_false(marked(&mark, &elsewhere));
    /* "clean" has _layers but no _manifests: still a repository of the mark. */
    assert_non_null(gc_mark_find_repository(&mark, "clean"));
    assert_int_equal(mark.repository_count, 3);
    gc_mark_release(&mark);
    gc_fixture_close(&fixture);
}

static void test_shared_layers(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object base = gc_layer(&fixture, "team/a", "shared base layer");
    gc_link_layer(&fixture, "team/b", &base.digest);
    struct gc_object a = gc_image(&fixture, "team/a", "a", &base, 1, NULL, NULL);
    struct gc_object b = gc_image(&fixture, "team/b", "b", &base, 1, "v1", NULL);
    /* The same manifest bytes in two repositories, tagged in one only. */
    struct gc_object a_copy =
        gc_manifest_bytes(&fixture, "team/c",
                          "{\"schemaVersion\":2,"
                          "\"mediaType\":\"" MEDIA_TYPE_OCI_INDEX "\",\"manifests\":[]}",
                          "v1", NULL, 0);
    gc_manifest_bytes(&fixture, "team/a",
                      "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_INDEX
                      "\",\"manifests\":[]}",
                      NULL, NULL, 0);

    struct gc_mark mark;
    run_mark(&fixture, &mark, 1);
    assert_false(kept(&mark, "team/a", &a));
    assert_true(kept(&mark, "team/b", &b));
    assert_true(marked(&mark, &base)); /* marked through team/b: kept globally */
    assert_false(marked(&mark, &a));
    assert_false(kept(&mark, "team/a", &a_copy));
    assert_true(kept(&mark, "team/c", &a_copy));
    assert_true(marked(&mark, &a_copy));
    gc_mark_release(&mark);
    gc_fixture_close(&fixture);
}

static void test_damaged_links(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object untagged_layer;
    struct gc_object untagged = gc_simple_image(&fixture, "damaged", "u", NULL, &untagged_layer);
    gc_simple_image(&fixture, "damaged", "t", "good", NULL);
    /* A tag whose link holds garbage: its target is unknown, so every
     * revision of the repository is kept. */
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_tag_current_link(&fixture.tree, "damaged", "bad", path), 0);
    support_write_string(path, "sha256:nothex\n");
    /* A tag to a manifest whose blob is gone: nothing to follow, no error. */
    struct gc_object missing = gc_simple_image(&fixture, "gone", "m", "v1", NULL);
    gc_blob_path(&fixture, &missing.digest, path);
    assert_int_equal(unlink(path), 0);

    struct gc_mark mark;
    run_mark(&fixture, &mark, 1);
    assert_true(gc_mark_is_complete(&mark));
    assert_true(kept(&mark, "damaged", &untagged));
    assert_true(marked(&mark, &untagged_layer));
    assert_true(gc_mark_find_repository(&mark, "damaged")->all_revisions_kept);
    assert_true(kept(&mark, "gone", &missing));
    gc_mark_release(&mark);
    gc_fixture_close(&fixture);
}

static void test_unreadable_manifest_makes_mark_incomplete(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object image = gc_simple_image(&fixture, "app", "x", "v1", NULL);
    char path[TREE_PATH_MAX];
    /* A directory where the manifest's data file should be: reading fails
     * with an I/O error, which must not pass for "references nothing". */
    gc_blob_path(&fixture, &image.digest, path);
    assert_int_equal(unlink(path), 0);
    support_mkdir(path);
    struct gc_mark mark;
    run_mark(&fixture, &mark, 0);
    assert_false(gc_mark_is_complete(&mark));
    assert_true(mark.errors.count >= 1);
    gc_mark_release(&mark);
    gc_fixture_close(&fixture);
}

/* Repositories marked on several threads: the same blobs, kept manifests,
 * counts and errors as on one, with layers shared across repositories and an
 * unparseable manifest in one of them. */
static void test_threads_mark_as_one(void **state)
{
    (void)state;
    enum { REPOSITORIES = 24 };
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object shared = gc_layer(&fixture, "r/00", "shared across repositories");
    for (int r = 0; r < REPOSITORIES; r++) {
        char name[16], seed[48];
        snprintf(name, sizeof name, "r/%02d", r);
        gc_link_layer(&fixture, name, &shared.digest);
        for (int i = 0; i < 4; i++) {
            char tag[8];
            snprintf(seed, sizeof seed, "%s-%d", name, i);
            snprintf(tag, sizeof tag, "t%d", i);
            struct gc_object layer;
            gc_simple_image(&fixture, name, seed, i % 2 == 0 ? tag : NULL, &layer);
        }
        struct gc_object with_shared =
            gc_image(&fixture, name, name, &shared, 1, r % 3 == 0 ? "shared" : NULL, NULL);
        (void)with_shared;
    }
    gc_manifest_bytes(&fixture, "r/07", "not json at all", "broken", NULL, 0);

    for (int delete_untagged = 0; delete_untagged <= 1; delete_untagged++) {
        struct gc_mark one, many;
        gc_mark_init(&one, delete_untagged);
        one.jobs = 1;
        assert_int_equal(gc_mark_tree(&one, &fixture.tree, fixture.store), 0);
        gc_mark_init(&many, delete_untagged);
        many.jobs = 4;
        assert_int_equal(gc_mark_tree(&many, &fixture.tree, fixture.store), 0);
        assert_int_equal(many.blobs.count, one.blobs.count);
        for (size_t i = 0; i < one.blobs.count; i++)
            assert_true(gc_digest_set_contains(&many.blobs, &one.blobs.items[i]));
        assert_int_equal(many.manifests, one.manifests);
        assert_int_equal(many.unparseable, one.unparseable);
        assert_int_equal(many.unparseable, 1);
        assert_int_equal(many.errors.count, one.errors.count);
        assert_int_equal(many.repository_count, REPOSITORIES);
        for (size_t r = 0; r < one.repository_count; r++) {
            struct gc_repository *a = &one.repositories[r], *b = &many.repositories[r];
            assert_string_equal(a->name, b->name);
            assert_int_equal(a->kept.count, b->kept.count);
            for (size_t i = 0; i < a->kept.count; i++)
                assert_true(gc_digest_set_contains(&b->kept, &a->kept.items[i]));
            assert_int_equal(a->all_layers_marked, b->all_layers_marked);
        }
        gc_mark_release(&one);
        gc_mark_release(&many);
    }
    gc_fixture_close(&fixture);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest_set),
        cmocka_unit_test(test_tagged_image),
        cmocka_unit_test(test_untagged_revisions),
        cmocka_unit_test(test_eviction),
        cmocka_unit_test(test_indexes),
        cmocka_unit_test(test_referrers),
        cmocka_unit_test(test_unparseable_manifests),
        cmocka_unit_test(test_shared_layers),
        cmocka_unit_test(test_damaged_links),
        cmocka_unit_test(test_unreadable_manifest_makes_mark_incomplete),
        cmocka_unit_test(test_threads_mark_as_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
