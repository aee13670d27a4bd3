/* Unit tests for drivers/fs.h through drivers/blob_store.h. */
#include "test_support.h"

#include <errno.h>
#include <time.h>

#include "drivers/fs.h"

struct fixture {
    char *root;
    struct tree tree;
    struct blob_store *store;
};

static int setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof *fixture);
    fixture->root = support_root_create();
    assert_int_equal(tree_open(&fixture->tree, fixture->root, 1), 0);
    assert_int_equal(blob_store_fs_create(&fixture->tree, &fixture->store), 0);
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    blob_store_destroy(fixture->store);
    support_root_remove(fixture->root);
    free(fixture);
    return 0;
}

static struct digest digest_of(const char *text)
{
    struct digest digest;
    assert_int_equal(digest_of_buffer(DIGEST_SHA256, text, strlen(text), &digest), 0);
    return digest;
}

/* Sets a blob's mtime an hour back. */
static void age(struct fixture *f, const struct digest *digest)
{
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_blob_data(&f->tree, digest, path), 0);
    struct timespec times[2] = {{time(NULL) - 3600, 0}, {time(NULL) - 3600, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
}

static void test_put_stat_read(void **state)
{
    struct fixture *f = *state;
    const char *content = "hello, blob";
    struct digest digest = digest_of(content);
    struct blob_info info;
    assert_string_equal(f->store->operations->name, "fs");
    assert_int_equal(blob_store_stat(f->store, &digest, &info), -ENOENT);
    assert_int_equal(blob_store_put(f->store, &digest, content, strlen(content)), 0);
    assert_int_equal(blob_store_stat(f->store, &digest, &info), 0);
    assert_int_equal(info.size, strlen(content));
    assert_true(info.modified_seconds >= time(NULL) - 5);

    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_blob_data(&f->tree, &digest, path), 0);
    char *data = support_read(path, NULL);
    assert_string_equal(data, content);
    free(data);

    struct blob_reader *reader;
    assert_int_equal(blob_store_open(f->store, &digest, &reader, &info), 0);
    assert_int_equal(info.size, 11);
    char buffer[64];
    assert_int_equal(blob_reader_read(reader, buffer, sizeof buffer, 0), 11);
    assert_memory_equal(buffer, content, 11);
    assert_int_equal(blob_reader_read(reader, buffer, 4, 7), 4);
    assert_memory_equal(buffer, "blob", 4);
    assert_int_equal(blob_reader_read(reader, buffer, 10, 9), 2);
    assert_int_equal(blob_reader_read(reader, buffer, 10, 11), 0);
    assert_int_equal(blob_reader_read(reader, buffer, 10, 1000), 0);
    assert_int_equal(blob_reader_read(reader, buffer, 10, -1), -EINVAL);
    blob_reader_close(reader);
    blob_reader_close(NULL);

    char *all;
    size_t length;
    assert_int_equal(blob_store_read_all(f->store, &digest, 11, &all, &length), 0);
    assert_int_equal(length, 11);
    assert_string_equal(all, content);
    free(all);
    assert_int_equal(blob_store_read_all(f->store, &digest, 10, &all, &length), -EFBIG);
    assert_null(all);

    struct digest missing = digest_of("missing");
    assert_int_equal(blob_store_open(f->store, &missing, &reader, &info), -ENOENT);
    assert_int_equal(blob_store_read_all(f->store, &missing, 100, &all, &length), -ENOENT);
}

static void test_put_existing_freshens(void **state)
{
    struct fixture *f = *state;
    struct digest digest = digest_of("same");
    struct blob_info info;
    assert_int_equal(blob_store_put(f->store, &digest, "same", 4), 0);
    age(f, &digest);
    assert_int_equal(blob_store_stat(f->store, &digest, &info), 0);
    assert_true(info.modified_seconds < time(NULL) - 3000);
    assert_int_equal(blob_store_put(f->store, &digest, "same", 4), 0);
    assert_int_equal(blob_store_stat(f->store, &digest, &info), 0);
    assert_true(info.modified_seconds >= time(NULL) - 5);
}

static void test_commit(void **state)
{
    struct fixture *f = *state;
    const char *content = "layer bytes";
    struct digest digest = digest_of(content);
    char upload[TREE_PATH_MAX], second[TREE_PATH_MAX], path[TREE_PATH_MAX];
    assert_int_equal(
        tree_path_upload_data(&f->tree, "a/b", "0b9c2f6e-7c4d-4b53-9a55-2f1e3f0d8c11", upload), 0);
    support_write_string(upload, content);
    assert_int_equal(blob_store_commit(f->store, upload, &digest), 0);
    assert_false(support_exists(upload));
    assert_int_equal(tree_path_blob_data(&f->tree, &digest, path), 0);
    char *data = support_read(path, NULL);
    assert_string_equal(data, content);
    free(data);

    /* Committing the same digest again drops the new file and freshens. */
    age(f, &digest);
    assert_int_equal(
        tree_path_upload_data(&f->tree, "a/b", "1b9c2f6e-7c4d-4b53-9a55-2f1e3f0d8c11", second), 0);
    support_write_string(second, content);
    assert_int_equal(blob_store_commit(f->store, second, &digest), 0);
    assert_false(support_exists(second));
    struct blob_info info;
    assert_int_equal(blob_store_stat(f->store, &digest, &info), 0);
    assert_true(info.modified_seconds >= time(NULL) - 5);

    /* A missing upload file cannot be committed. */
    struct digest other = digest_of("other");
    assert_int_equal(blob_store_commit(f->store, upload, &other), -ENOENT);
    assert_int_equal(blob_store_stat(f->store, &other, &info), -ENOENT);
}

static void test_freshen_and_remove(void **state)
{
    struct fixture *f = *state;
    struct digest digest = digest_of("gone soon");
    struct blob_info info;
    assert_int_equal(blob_store_freshen(f->store, &digest), -ENOENT);
    assert_int_equal(blob_store_remove(f->store, &digest), -ENOENT);
    assert_int_equal(blob_store_put(f->store, &digest, "gone soon", 9), 0);
    age(f, &digest);
    assert_int_equal(blob_store_freshen(f->store, &digest), 0);
    assert_int_equal(blob_store_stat(f->store, &digest, &info), 0);
    assert_true(info.modified_seconds >= time(NULL) - 5);

    assert_int_equal(blob_store_remove(f->store, &digest), 0);
    assert_int_equal(blob_store_stat(f->store, &digest, &info), -ENOENT);
    char directory[TREE_PATH_MAX];
    assert_int_equal(tree_path_blob_directory(&f->tree, &digest, directory), 0);
    assert_false(support_exists(directory));
    assert_int_equal(blob_store_remove(f->store, &digest), -ENOENT);
    /* And it can come back. */
    assert_int_equal(blob_store_put(f->store, &digest, "gone soon", 9), 0);
    assert_int_equal(blob_store_stat(f->store, &digest, &info), 0);
}

static void test_empty_blob(void **state)
{
    struct fixture *f = *state;
    struct digest digest = digest_of("");
    assert_int_equal(blob_store_put(f->store, &digest, "", 0), 0);
    char *all;
    size_t length;
    assert_int_equal(blob_store_read_all(f->store, &digest, 0, &all, &length), 0);
    assert_int_equal(length, 0);
    assert_string_equal(all, "");
    free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_stat_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_existing_freshens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_freshen_and_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_blob, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
