/* Unit tests for layout/tag_update.h: a tag appears whole, moves, and goes
 * in one step; staging directories are invisible to walk_tags and removed
 * by tag_update_remove_staging. */
#include "test_support.h"

#include <errno.h>
#include <sys/stat.h>
#include <time.h>

#include "layout/link_file.h"
#include "layout/tag_update.h"
#include "layout/tree.h"
#include "layout/walk.h"

struct fixture {
    char *root;
    struct tree tree;
};

static int setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof *fixture);
    fixture->root = support_root_create();
    assert_int_equal(tree_open(&fixture->tree, fixture->root, 1), 0);
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    support_root_remove(fixture->root);
    free(fixture);
    return 0;
}

static void assert_current(const struct tree *tree, const char *name, const char *tag,
                           const struct digest *want)
{
    char path[TREE_PATH_MAX];
    struct digest target;
    assert_int_equal(tree_path_tag_current_link(tree, name, tag, path), 0);
    assert_int_equal(link_file_read(path, &target), 0);
    assert_string_equal(target.string, want->string);
}

static int index_exists(const struct tree *tree, const char *name, const char *tag,
                        const struct digest *digest)
{
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_tag_index_link(tree, name, tag, digest, path), 0);
    return support_exists(path);
}

/* The names in <name>'s tags directory, whatever they are. */
static size_t tags_directory_entries(const struct tree *tree, const char *name)
{
    char path[TREE_PATH_MAX];
    struct string_list entries = {0};
    assert_int_equal(tree_path_tags_directory(tree, name, path), 0);
    assert_int_equal(walk_directory_entries(path, &entries, &entries), 0);
    size_t count = entries.count;
    string_list_clear(&entries);
    return count;
}

static void test_new_tag_appears_whole(void **state)
{
    struct fixture *fixture = *state;
    struct digest a = support_digest("sha256:" HEX_A);
    assert_int_equal(tag_update_write(&fixture->tree, "lib/app", "v1", &a), 0);
    assert_current(&fixture->tree, "lib/app", "v1", &a);
    assert_true(index_exists(&fixture->tree, "lib/app", "v1", &a));
    /* No staging directory is left: the tags directory holds just the tag. */
    assert_int_equal(tags_directory_entries(&fixture->tree, "lib/app"), 1);
}

static void test_retag_keeps_the_index(void **state)
{
    struct fixture *fixture = *state;
    struct digest a = support_digest("sha256:" HEX_A), b = support_digest("sha256:" HEX_B);
    assert_int_equal(tag_update_write(&fixture->tree, "app", "v1", &a), 0);
    assert_int_equal(tag_update_write(&fixture->tree, "app", "v1", &b), 0);
    assert_current(&fixture->tree, "app", "v1", &b);
    assert_true(index_exists(&fixture->tree, "app", "v1", &a));
    assert_true(index_exists(&fixture->tree, "app", "v1", &b));
    assert_int_equal(tags_directory_entries(&fixture->tree, "app"), 1);
}

static void test_a_half_tag_is_completed(void **state)
{
    /* A tag directory with an index entry but no current link (what a
     * crashed writer of another server may leave): a PUT makes it whole. */
    struct fixture *fixture = *state;
    struct digest a = support_digest("sha256:" HEX_A);
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_tag_index_link(&fixture->tree, "app", "v1", &a, path), 0);
    assert_int_equal(link_file_write(path, &a), 0);
    struct string_list tags = {0};
    assert_int_equal(walk_tags_with_current(&fixture->tree, "app", &tags), 0);
    assert_int_equal(tags.count, 0);
    assert_int_equal(tag_update_write(&fixture->tree, "app", "v1", &a), 0);
    assert_current(&fixture->tree, "app", "v1", &a);
    assert_int_equal(walk_tags_with_current(&fixture->tree, "app", &tags), 0);
    assert_int_equal(tags.count, 1);
    string_list_clear(&tags);
}

static void test_remove(void **state)
{
    struct fixture *fixture = *state;
    struct digest a = support_digest("sha256:" HEX_A);
    char path[TREE_PATH_MAX];
    assert_int_equal(tag_update_write(&fixture->tree, "app", "v1", &a), 0);
    assert_int_equal(tag_update_write(&fixture->tree, "app", "v2", &a), 0);
    assert_int_equal(tag_update_remove(&fixture->tree, "app", "v1"), 0);
    assert_int_equal(tree_path_tag_directory(&fixture->tree, "app", "v1", path), 0);
    assert_false(support_exists(path));
    assert_int_equal(tags_directory_entries(&fixture->tree, "app"), 1); /* v2 */
    assert_int_equal(tag_update_remove(&fixture->tree, "app", "v1"), -ENOENT);
    assert_int_equal(tag_update_remove(&fixture->tree, "none", "v1"), -ENOENT);
    assert_current(&fixture->tree, "app", "v2", &a);
}

/* A staging directory as a crash leaves it: a complete tag under a hidden
 * name, or a half-removed one. */
static void make_staging(const struct tree *tree, const char *name, const char *suffix,
                         int with_current)
{
    char tags[TREE_PATH_MAX], staging[TREE_PATH_MAX], path[TREE_PATH_MAX];
    struct digest a = support_digest("sha256:" HEX_A);
    assert_int_equal(tree_path_tags_directory(tree, name, tags), 0);
    support_path(staging, "%s/" TREE_TAG_STAGING_PREFIX "%s", tags, suffix);
    assert_true(tree_is_tag_staging(staging + strlen(tags) + 1));
    assert_int_equal(tree_path_tag_index_link_in(staging, &a, path), 0);
    assert_int_equal(link_file_write(path, &a), 0);
    if (with_current) {
        assert_int_equal(tree_path_tag_current_link_in(staging, path), 0);
        assert_int_equal(link_file_write(path, &a), 0);
    }
}

static void test_staging_is_invisible_and_removable(void **state)
{
    struct fixture *fixture = *state;
    struct digest a = support_digest("sha256:" HEX_A);
    assert_int_equal(tag_update_write(&fixture->tree, "app", "v1", &a), 0);
    make_staging(&fixture->tree, "app", "abcdef", 1);
    make_staging(&fixture->tree, "app", "ABC123", 0);
    struct string_list tags = {0};
    assert_int_equal(walk_tags(&fixture->tree, "app", &tags), 0);
    assert_int_equal(tags.count, 1);
    assert_string_equal(tags.items[0], "v1");
    string_list_clear(&tags);

    long long now = (long long)time(NULL);
    /* Fresh ones stay under a grace period... */
    assert_int_equal(tag_update_remove_staging(&fixture->tree, "app", 3600, now), 0);
    assert_int_equal(tags_directory_entries(&fixture->tree, "app"), 3);
    /* ...and go when they are old enough, or with no grace at all. */
    assert_int_equal(tag_update_remove_staging(&fixture->tree, "app", 3600, now + 7200), 2);
    assert_int_equal(tags_directory_entries(&fixture->tree, "app"), 1);
    make_staging(&fixture->tree, "app", "zzzzzz", 1);
    assert_int_equal(tag_update_remove_staging(&fixture->tree, "app", 0, 0), 1);
    assert_int_equal(tags_directory_entries(&fixture->tree, "app"), 1);
    assert_current(&fixture->tree, "app", "v1", &a);
    assert_int_equal(tag_update_remove_staging(&fixture->tree, "none", 0, 0), 0);
}

/* Prepared while the revision is written elsewhere: invisible until
 * published; abandoned without a trace; published over whatever happened to
 * the tag meanwhile. */
static void test_prepare_then_publish(void **state)
{
    struct fixture *fixture = *state;
    const struct tree *tree = &fixture->tree;
    struct digest a = support_digest("sha256:" HEX_A), b = support_digest("sha256:" HEX_B);
    struct tag_staging staged;
    struct string_list tags = {0};
    char path[TREE_PATH_MAX];

    assert_int_equal(tag_update_prepare(tree, "app", "v1", &a, &staged), 0);
    assert_true(staged.staged);
    assert_int_equal(walk_tags(tree, "app", &tags), 0);
    assert_int_equal(tags.count, 0);
    assert_int_equal(tags_directory_entries(tree, "app"), 1); /* the staging directory */
    assert_int_equal(tag_update_publish(&staged), 0);
    assert_current(tree, "app", "v1", &a);
    assert_int_equal(tags_directory_entries(tree, "app"), 1);

    assert_int_equal(tag_update_prepare(tree, "app", "v2", &a, &staged), 0);
    tag_update_abandon(&staged);
    assert_int_equal(tags_directory_entries(tree, "app"), 1);
    assert_int_equal(tree_path_tag_directory(tree, "app", "v2", path), 0);
    assert_false(support_exists(path));

    /* Made by another writer between prepare and publish: moved in place. */
    assert_int_equal(tag_update_prepare(tree, "app", "v3", &b, &staged), 0);
    assert_int_equal(tag_update_write(tree, "app", "v3", &a), 0);
    assert_int_equal(tag_update_publish(&staged), 0);
    assert_current(tree, "app", "v3", &b);
    assert_true(index_exists(tree, "app", "v3", &a));
    assert_int_equal(tags_directory_entries(tree, "app"), 2);

    /* There when prepared, removed before publish: made new, whole. */
    assert_int_equal(tag_update_prepare(tree, "app", "v1", &b, &staged), 0);
    assert_false(staged.staged);
    assert_int_equal(tag_update_remove(tree, "app", "v1"), 0);
    assert_int_equal(tag_update_publish(&staged), 0);
    assert_current(tree, "app", "v1", &b);
    assert_false(index_exists(tree, "app", "v1", &a));
    assert_int_equal(tags_directory_entries(tree, "app"), 2);
    string_list_clear(&tags);
}

static void test_staging_names(void **state)
{
    (void)state;
    assert_true(tree_is_tag_staging(".cairn-tag-a1B2c3"));
    assert_false(tree_is_tag_staging(".cairn-tag-a1B2c"));
    assert_false(tree_is_tag_staging(".cairn-tmp-a1B2c3"));
    assert_false(tree_is_tag_staging("cairn-tag-a1B2c3"));
    /* No tag can be taken for one, nor one for a tag. */
    assert_true(tag_validate(".cairn-tag-a1B2c3", 17) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_tag_appears_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retag_keeps_the_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_half_tag_is_completed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_staging_is_invisible_and_removable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepare_then_publish, setup, teardown),
        cmocka_unit_test(test_staging_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
