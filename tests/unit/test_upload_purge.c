/* Unit tests for layout/upload_purge.h. */
#include "test_support.h"

#include <time.h>

#include "layout/tree.h"
#include "layout/upload_purge.h"

#define OLD_ID "00000000-0000-4000-8000-000000000001"
#define NEW_ID "00000000-0000-4000-8000-000000000002"
#define ORPHAN_ID "00000000-0000-4000-8000-000000000003"

static void make_upload(const struct tree *tree, const char *name, const char *id,
                        const char *started_at, size_t size)
{
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_upload_data(tree, name, id, path), 0);
    char *data = calloc(1, size + 1);
    assert_int_equal(atomic_file_write(path, data, size), 0);
    free(data);
    assert_int_equal(tree_path_upload_started_at(tree, name, id, path), 0);
    assert_int_equal(atomic_file_write(path, started_at, strlen(started_at)), 0);
}

static int exists(const struct tree *tree, const char *name, const char *id)
{
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_upload_directory(tree, name, id, path), 0);
    return access(path, F_OK) == 0;
}

static void count(const char *name, const char *id, long long age, uint64_t bytes, void *context)
{
    (void)name;
    (void)id;
    (void)bytes;
    assert_true(age > 168 * 3600);
    (*(int *)context)++;
}

static void test_purge(void **state)
{
    (void)state;
    char *root = support_root_create();
    struct tree tree;
    assert_int_equal(tree_open(&tree, root, 1), 0);
    char now_text[40];
    long long now = (long long)time(NULL);
    tree_format_started_at(now - 60, 0, now_text);
    make_upload(&tree, "team/app", OLD_ID, "2020-01-02T03:04:05Z", 100);
    make_upload(&tree, "team/app", NEW_ID, now_text, 10);
    /* A repository that never got a manifest: its uploads are purged too. */
    make_upload(&tree, "orphan", ORPHAN_ID, "2020-01-02T03:04:05.5Z", 7);

    struct upload_purge_result result;
    int reported = 0;
    assert_int_equal(upload_purge(&tree, 168 * 3600, now, 1, count, &reported, &result), 0);
    assert_int_equal(result.examined, 3);
    assert_int_equal(result.removed, 2);
    assert_int_equal(result.bytes, 107);
    assert_int_equal(reported, 2);
    assert_true(exists(&tree, "team/app", OLD_ID)); /* dry run */

    reported = 0;
    assert_int_equal(upload_purge(&tree, 168 * 3600, now, 0, count, &reported, &result), 0);
    assert_int_equal(result.removed, 2);
    assert_int_equal(result.failures, 0);
    assert_false(exists(&tree, "team/app", OLD_ID));
    assert_false(exists(&tree, "orphan", ORPHAN_ID));
    assert_true(exists(&tree, "team/app", NEW_ID));
    support_root_remove(root);
}

static int repository_exists_on_disk(const struct tree *tree, const char *name)
{
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_repository(tree, name, path), 0);
    return access(path, F_OK) == 0;
}

static void remove_upload(const struct tree *tree, const char *name, const char *id)
{
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_upload_directory(tree, name, id, path), 0);
    assert_int_equal(directory_remove_tree(path), 0);
}

static void test_remove_empty_directories(void **state)
{
    (void)state;
    char *root = support_root_create();
    struct tree tree;
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_open(&tree, root, 1), 0);

    /* A new nested repository whose only upload failed: nothing stays. */
    make_upload(&tree, "a/b/c", OLD_ID, "2020-01-02T03:04:05Z", 10);
    remove_upload(&tree, "a/b/c", OLD_ID);
    assert_int_equal(upload_remove_empty_directories(&tree, "a/b/c"), 0);
    assert_false(repository_exists_on_disk(&tree, "a"));
    assert_int_equal(tree_path_repositories(&tree, path), 0);
    assert_true(access(path, F_OK) == 0);

    /* Another upload in progress in the same new repository: it stays. */
    make_upload(&tree, "two", OLD_ID, "2020-01-02T03:04:05Z", 10);
    make_upload(&tree, "two", NEW_ID, "2020-01-02T03:04:05Z", 10);
    remove_upload(&tree, "two", OLD_ID);
    assert_int_equal(upload_remove_empty_directories(&tree, "two"), 0);
    assert_true(exists(&tree, "two", NEW_ID));

    /* A repository that has links keeps its directories (_uploads too). */
    make_upload(&tree, "kept", OLD_ID, "2020-01-02T03:04:05Z", 10);
    struct digest digest = support_digest("sha256:" HEX_A);
    assert_int_equal(tree_path_layer_link(&tree, "kept", &digest, path), 0);
    assert_int_equal(atomic_file_write(path, digest.string, strlen(digest.string)), 0);
    remove_upload(&tree, "kept", OLD_ID);
    assert_int_equal(upload_remove_empty_directories(&tree, "kept"), 0);
    assert_int_equal(tree_path_uploads_directory(&tree, "kept", path), 0);
    assert_true(access(path, F_OK) == 0);

    /* A parent that is a repository of its own, or holds another, stays. */
    make_upload(&tree, "kept/inner", OLD_ID, "2020-01-02T03:04:05Z", 10);
    remove_upload(&tree, "kept/inner", OLD_ID);
    assert_int_equal(upload_remove_empty_directories(&tree, "kept/inner"), 0);
    assert_false(repository_exists_on_disk(&tree, "kept/inner"));
    assert_true(repository_exists_on_disk(&tree, "kept"));

    /* Nothing there at all: nothing to do. */
    assert_int_equal(upload_remove_empty_directories(&tree, "never"), 0);
    support_root_remove(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_purge),
        cmocka_unit_test(test_remove_empty_directories),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
