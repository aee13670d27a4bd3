/* Unit tests for src/registry/mount.h: where a mount without `from` finds a
 * blob, with the caller's access rule, and what it links. */
#include "gc_test_tree.h"

#include "src/registry/mount.h"
#include "src/registry/registry_error.h"
#include "src/registry/repository.h"

/* Allows every repository but the one named by `context`. */
static int allow_all_but(const char *name, void *context)
{
    return context == NULL || strcmp(name, context) != 0;
}

static int layer_linked(struct gc_fixture *fixture, const char *name, const struct digest *digest)
{
    return repository_stat_blob(&fixture->tree, NULL, name, digest, NULL) == 0;
}

static void test_found_where_the_caller_may_read(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object blob = gc_layer(&fixture, "source", "shared layer");
    struct mount_search search = {.may_read = allow_all_but};
    assert_int_equal(mount_find_blob(&fixture.tree, fixture.store, "target", &blob.digest, &search),
                     1);
    assert_int_equal(mount_from_any(&fixture.tree, fixture.store, "target", &blob.digest, &search),
                     1);
    assert_true(layer_linked(&fixture, "target", &blob.digest));
    gc_fixture_close(&fixture);
}

static void test_hidden_repositories_are_not_looked_into(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object blob = gc_layer(&fixture, "private", "private layer");
    struct mount_search search = {.may_read = allow_all_but, .context = "private"};
    assert_int_equal(mount_find_blob(&fixture.tree, fixture.store, "target", &blob.digest, &search),
                     0);
    assert_int_equal(mount_from_any(&fixture.tree, fixture.store, "target", &blob.digest, &search),
                     0);
    assert_false(layer_linked(&fixture, "target", &blob.digest));
    gc_fixture_close(&fixture);
}

static void test_a_listed_scope_is_asked_directly(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object blob = gc_layer(&fixture, "granted", "granted layer");
    gc_layer(&fixture, "elsewhere", "elsewhere layer");
    struct string_list only = {0};
    assert_int_equal(string_list_append(&only, "granted"), 0);
    struct mount_search search = {.may_read = allow_all_but, .only = &only};
    assert_int_equal(mount_find_blob(&fixture.tree, fixture.store, "target", &blob.digest, &search),
                     1);
    struct digest other = support_digest("sha256:" HEX_C);
    assert_int_equal(mount_find_blob(&fixture.tree, fixture.store, "target", &other, &search), 0);
    string_list_clear(&only);
    gc_fixture_close(&fixture);
}

static void test_a_vanished_blob_is_not_mounted(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object blob = gc_layer(&fixture, "source", "gone layer");
    char path[TREE_PATH_MAX];
    gc_blob_path(&fixture, &blob.digest, path);
    assert_int_equal(unlink(path), 0);
    struct mount_search search = {.may_read = allow_all_but};
    assert_int_equal(mount_from_any(&fixture.tree, fixture.store, "target", &blob.digest, &search),
                     0);
    assert_false(layer_linked(&fixture, "target", &blob.digest));
    /* Seeing everything, a blob absent from the store is found nowhere. */
    search.everything = 1;
    assert_int_equal(mount_find_blob(&fixture.tree, fixture.store, "target", &blob.digest, &search),
                     0);
    gc_fixture_close(&fixture);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_found_where_the_caller_may_read),
        cmocka_unit_test(test_hidden_repositories_are_not_looked_into),
        cmocka_unit_test(test_a_listed_scope_is_asked_directly),
        cmocka_unit_test(test_a_vanished_blob_is_not_mounted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
