/* Unit tests for src/registry/uploads.h: an upload's files in a temporary
 * tree through start, append, commit and cancel, and the answers to a wrong
 * offset, a wrong digest and a second writer. */
#include "gc_test_tree.h"

#include <errno.h>

#include "src/registry/registry_error.h"
#include "src/registry/repository.h"
#include "src/registry/uploads.h"

struct fixture {
    struct gc_fixture tree;
    struct upload_sessions *sessions;
};

static int setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof *fixture);
    assert_non_null(fixture);
    gc_fixture_open(&fixture->tree);
    assert_int_equal(upload_sessions_create(&fixture->sessions), 0);
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    upload_sessions_destroy(fixture->sessions);
    gc_fixture_close(&fixture->tree);
    free(fixture);
    return 0;
}

static int upload_directory_exists(struct fixture *fixture, const char *name, const char *id)
{
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_upload_directory(&fixture->tree.tree, name, id, path), 0);
    return access(path, F_OK) == 0;
}

static void append(struct fixture *fixture, const char *name, const char *id, int64_t start,
                   const char *data, int expected)
{
    struct upload_session *session;
    assert_int_equal(upload_acquire(fixture->sessions, &fixture->tree.tree, name, id, &session), 0);
    /* As the handlers do: append_end() only after a successful begin. */
    int result = upload_append_begin(session, start);
    if (result == 0) {
        result = upload_append(session, data, strlen(data));
        int end = upload_append_end(session, result == 0, 1);
        if (result == 0)
            result = end;
    }
    assert_int_equal(result, expected);
    upload_release(fixture->sessions, session);
}

static void test_chunks_then_commit_store_and_link_the_blob(void **state)
{
    struct fixture *fixture = *state;
    char id[UPLOAD_ID_LENGTH + 1];
    assert_int_equal(upload_start(&fixture->tree.tree, "app", id), 0);
    assert_true(upload_directory_exists(fixture, "app", id));
    int64_t size = -1;
    assert_int_equal(upload_size(&fixture->tree.tree, "app", id, &size), 0);
    assert_int_equal(size, 0);

    append(fixture, "app", id, 0, "hello ", 0);
    append(fixture, "app", id, -1, "world", 0);
    assert_int_equal(upload_size(&fixture->tree.tree, "app", id, &size), 0);
    assert_int_equal(size, 11);

    struct digest digest;
    assert_int_equal(digest_of_buffer(DIGEST_SHA256, "hello world", 11, &digest), 0);
    struct upload_session *session;
    assert_int_equal(upload_acquire(fixture->sessions, &fixture->tree.tree, "app", id, &session),
                     0);
    assert_int_equal(upload_session_size(session), 11);
    assert_int_equal(upload_commit(session, &fixture->tree.tree, fixture->tree.store, &digest), 0);
    upload_release(fixture->sessions, session);

    struct gc_object blob = {.digest = digest, .size = 11};
    assert_true(gc_blob_exists(&fixture->tree, &blob));
    struct blob_info info;
    assert_int_equal(
        repository_stat_blob(&fixture->tree.tree, fixture->tree.store, "app", &digest, &info), 0);
    assert_int_equal(info.size, 11);
    assert_false(upload_directory_exists(fixture, "app", id));
    assert_int_equal(upload_size(&fixture->tree.tree, "app", id, &size),
                     -REGISTRY_ERROR_BLOB_UPLOAD_UNKNOWN);
}

static void test_wrong_offset_is_refused_and_nothing_appended(void **state)
{
    struct fixture *fixture = *state;
    char id[UPLOAD_ID_LENGTH + 1];
    assert_int_equal(upload_start(&fixture->tree.tree, "app", id), 0);
    append(fixture, "app", id, 0, "abc", 0);
    append(fixture, "app", id, 7, "def", -REGISTRY_ERROR_RANGE_INVALID);
    int64_t size = -1;
    assert_int_equal(upload_size(&fixture->tree.tree, "app", id, &size), 0);
    assert_int_equal(size, 3);
}

static void test_wrong_digest_removes_the_upload(void **state)
{
    struct fixture *fixture = *state;
    char id[UPLOAD_ID_LENGTH + 1];
    assert_int_equal(upload_start(&fixture->tree.tree, "app", id), 0);
    append(fixture, "app", id, -1, "some bytes", 0);
    struct digest wrong = support_digest("sha256:" HEX_A);
    struct upload_session *session;
    assert_int_equal(upload_acquire(fixture->sessions, &fixture->tree.tree, "app", id, &session),
                     0);
    assert_int_equal(upload_commit(session, &fixture->tree.tree, fixture->tree.store, &wrong),
                     -REGISTRY_ERROR_DIGEST_INVALID);
    upload_release(fixture->sessions, session);
    assert_false(upload_directory_exists(fixture, "app", id));
    struct blob_info info;
    assert_int_equal(
        repository_stat_blob(&fixture->tree.tree, fixture->tree.store, "app", &wrong, &info),
        -REGISTRY_ERROR_BLOB_UNKNOWN);
}

static void test_one_writer_at_a_time_and_cancel(void **state)
{
    struct fixture *fixture = *state;
    char id[UPLOAD_ID_LENGTH + 1];
    assert_int_equal(upload_start(&fixture->tree.tree, "app", id), 0);
    struct upload_session *first, *second;
    assert_int_equal(upload_acquire(fixture->sessions, &fixture->tree.tree, "app", id, &first), 0);
    assert_int_equal(upload_acquire(fixture->sessions, &fixture->tree.tree, "app", id, &second),
                     -REGISTRY_ERROR_BUSY);
    assert_int_equal(upload_cancel(first, &fixture->tree.tree), 0);
    upload_release(fixture->sessions, first);
    assert_false(upload_directory_exists(fixture, "app", id));
    assert_int_equal(upload_acquire(fixture->sessions, &fixture->tree.tree, "app", id, &second),
                     -REGISTRY_ERROR_BLOB_UPLOAD_UNKNOWN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chunks_then_commit_store_and_link_the_blob, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wrong_offset_is_refused_and_nothing_appended, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wrong_digest_removes_the_upload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_writer_at_a_time_and_cancel, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
