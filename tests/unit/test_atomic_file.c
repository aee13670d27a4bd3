/* Unit tests for layout/atomic_file.h. */
#include "test_support.h"

#include <dirent.h>
#include <errno.h>

#include "layout/error.h"

/* Number of entries of `path` (without . and ..) whose name is a temporary. */
static int count_temporaries(const char *path)
{
    DIR *directory = opendir(path);
    assert_non_null(directory);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL)
        count += strncmp(entry->d_name, ATOMIC_FILE_TEMPORARY_PREFIX, 11) == 0;
    closedir(directory);
    return count;
}

static void test_write(void **state)
{
    (void)state;
    char *root = support_root_create();
    char path[PATH_MAX], directory[PATH_MAX];
    support_path(directory, "%s/x/y/z", root);
    support_path(path, "%s/file", directory);
    assert_int_equal(atomic_file_write(path, "hello", 5), 0);
    size_t length;
    char *data = support_read(path, &length);
    assert_int_equal(length, 5);
    assert_memory_equal(data, "hello", 5);
    free(data);
    assert_int_equal(count_temporaries(directory), 0);
    struct stat status;
    assert_int_equal(stat(path, &status), 0);
    assert_int_equal(status.st_mode & 0777, 0644);

    /* Replace, then shrink to nothing. */
    assert_int_equal(atomic_file_write(path, "replaced content", 16), 0);
    data = support_read(path, &length);
    assert_string_equal(data, "replaced content");
    free(data);
    assert_int_equal(atomic_file_write(path, "", 0), 0);
    data = support_read(path, &length);
    assert_int_equal(length, 0);
    free(data);
    assert_int_equal(count_temporaries(directory), 0);
    support_root_remove(root);
}

static void test_write_failure_leaves_nothing(void **state)
{
    (void)state;
    char *root = support_root_create();
    char path[PATH_MAX], file[PATH_MAX], directory[PATH_MAX];
    /* The parent is a regular file. */
    support_path(file, "%s/file", root);
    support_write_string(file, "x");
    support_path(path, "%s/file/child", root);
    assert_true(atomic_file_write(path, "data", 4) < 0);
    assert_true(strlen(error_message()) > 0);
    /* The target is a directory: the rename fails and the temporary goes. */
    support_path(directory, "%s/dir", root);
    support_mkdir(directory);
    support_path(path, "%s/dir/sub", root);
    support_mkdir(path);
    support_path(file, "%s/dir/sub/inner", root);
    support_write_string(file, "x");
    assert_true(atomic_file_write(path, "data", 4) < 0);
    assert_int_equal(count_temporaries(directory), 0);
    assert_int_equal(count_temporaries(root), 0);
    support_root_remove(root);
}

static void test_directory_create(void **state)
{
    (void)state;
    char *root = support_root_create();
    char path[PATH_MAX], file[PATH_MAX];
    support_path(path, "%s/a/b/c/d", root);
    assert_int_equal(directory_create(path), 0);
    struct stat status;
    assert_int_equal(stat(path, &status), 0);
    assert_true(S_ISDIR(status.st_mode));
    assert_int_equal(directory_create(path), 0);
    support_path(path, "%s/a/b/c/d/", root);
    assert_int_equal(directory_create(path), 0);
    support_path(path, "%s/a//b2///c2", root);
    assert_int_equal(directory_create(path), 0);
    support_path(path, "%s/a/b2/c2", root);
    assert_int_equal(stat(path, &status), 0);

    support_path(file, "%s/a/file", root);
    support_write_string(file, "x");
    assert_int_equal(directory_create(file), -ENOTDIR);
    support_path(path, "%s/a/file/below", root);
    assert_int_equal(directory_create(path), -ENOTDIR);
    assert_int_equal(directory_create(""), -EINVAL);

    assert_int_equal(directory_sync(root), 0);
    assert_int_equal(directory_sync_parent(path), -ENOTDIR);
    assert_int_equal(directory_sync_parent(file), 0);
    support_path(path, "%s/missing", root);
    assert_int_equal(directory_sync(path), -ENOENT);
    support_root_remove(root);
}

static void test_rename_durable(void **state)
{
    (void)state;
    char *root = support_root_create();
    char from[PATH_MAX], to[PATH_MAX];
    support_path(from, "%s/uploads/u1/data", root);
    support_write_string(from, "blob");
    support_path(to, "%s/blobs/sha256/aa/aaaa/data", root);
    assert_int_equal(file_rename_durable(from, to), 0);
    assert_false(support_exists(from));
    char *data = support_read(to, NULL);
    assert_string_equal(data, "blob");
    free(data);
    /* Same directory. */
    support_path(from, "%s/blobs/sha256/aa/aaaa/data2", root);
    assert_int_equal(file_rename_durable(to, from), 0);
    assert_true(support_exists(from));
    /* Missing source. */
    assert_int_equal(file_rename_durable(to, from), -ENOENT);
    support_root_remove(root);
}

static void test_remove_tree(void **state)
{
    (void)state;
    char *root = support_root_create();
    char *outside = support_root_create();
    char path[PATH_MAX], link[PATH_MAX], kept[PATH_MAX], tree[PATH_MAX];
    support_path(kept, "%s/keep", outside);
    support_write_string(kept, "precious");
    support_path(tree, "%s/t", root);
    support_path(path, "%s/t/a/b/c/file", root);
    support_write_string(path, "x");
    support_path(path, "%s/t/a/other", root);
    support_write_string(path, "y");
    support_path(link, "%s/t/a/b/escape", root);
    assert_int_equal(symlink(outside, link), 0);
    assert_int_equal(directory_remove_tree(tree), 0);
    assert_false(support_exists(tree));
    assert_true(support_exists(kept));
    /* Missing is not an error; a single file is removed. */
    assert_int_equal(directory_remove_tree(tree), 0);
    support_path(path, "%s/lonely", root);
    support_write_string(path, "z");
    assert_int_equal(directory_remove_tree(path), 0);
    assert_false(support_exists(path));
    support_root_remove(outside);
    support_root_remove(root);
}

static void test_remove_empty_parents(void **state)
{
    (void)state;
    char *root = support_root_create();
    char path[PATH_MAX], stop[PATH_MAX], check[PATH_MAX];
    support_path(path, "%s/r/a/b/c/link", root);
    support_write_string(path, "x");
    support_path(check, "%s/r/a/sibling", root);
    support_write_string(check, "y");
    assert_int_equal(unlink(path), 0);
    support_path(stop, "%s/r", root);
    directory_remove_empty_parents(path, stop);
    support_path(check, "%s/r/a/b", root);
    assert_false(support_exists(check));
    support_path(check, "%s/r/a", root);
    assert_true(support_exists(check)); /* not empty: has "sibling" */

    /* stop_at itself is never removed. */
    support_path(path, "%s/r/a/sibling", root);
    assert_int_equal(unlink(path), 0);
    directory_remove_empty_parents(path, stop);
    support_path(check, "%s/r/a", root);
    assert_false(support_exists(check));
    assert_true(support_exists(stop));

    /* Paths outside stop_at are left alone. */
    support_path(path, "%s/other/x/file", root);
    support_write_string(path, "x");
    assert_int_equal(unlink(path), 0);
    directory_remove_empty_parents(path, stop);
    support_path(check, "%s/other/x", root);
    assert_true(support_exists(check));
    /* A prefix that is not a path component boundary does not count. */
    support_path(path, "%s/rr/x/file", root);
    support_write_string(path, "x");
    assert_int_equal(unlink(path), 0);
    directory_remove_empty_parents(path, stop);
    support_path(check, "%s/rr/x", root);
    assert_true(support_exists(check));
    support_root_remove(root);
}

static void test_is_temporary(void **state)
{
    (void)state;
    assert_true(atomic_file_is_temporary(".cairn-tmp-Ab3xYz"));
    assert_false(atomic_file_is_temporary(".cairn-tmp-"));
    assert_false(atomic_file_is_temporary(".cairn-tmp-abc"));
    assert_false(atomic_file_is_temporary(".cairn-tmp-abcdefg"));
    assert_false(atomic_file_is_temporary(".cairn-tmp-ab/def"));
    assert_false(atomic_file_is_temporary("link"));
    assert_false(atomic_file_is_temporary(".cairn-tmp"));
    assert_false(atomic_file_is_temporary("x.cairn-tmp-abcdef"));

    /* The names atomic_file_write really uses are recognised. */
    char *root = support_root_create();
    char path[PATH_MAX];
    support_path(path, "%s/" ATOMIC_FILE_TEMPORARY_PREFIX "XXXXXX", root);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_true(atomic_file_is_temporary(strrchr(path, '/') + 1));
    support_root_remove(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write),
        cmocka_unit_test(test_write_failure_leaves_nothing),
        cmocka_unit_test(test_directory_create),
        cmocka_unit_test(test_rename_durable),
        cmocka_unit_test(test_remove_tree),
        cmocka_unit_test(test_remove_empty_parents),
        cmocka_unit_test(test_is_temporary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
