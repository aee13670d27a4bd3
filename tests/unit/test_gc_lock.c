/* Unit tests for layout/gc_lock.h: the GC lock's modes between descriptors,
 * and the run announcement as writers read it. */
#include "test_support.h"

#include <errno.h>
#include <sys/file.h>

#include "layout/gc_lock.h"
#include "layout/tree.h"

struct fixture {
    char *root;
    struct tree tree;
};

static int setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof *fixture);
    assert_non_null(fixture);
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

/* Whether another open file description could take the lock in `mode` now. */
static int could_take(const struct tree *tree, int operation)
{
    int fd;
    assert_int_equal(gc_lock_open(tree, &fd), 0);
    int taken = flock(fd, operation | LOCK_NB) == 0;
    close(fd);
    return taken;
}

static void test_shared_holders_exclude_the_sweep(void **state)
{
    struct fixture *fixture = *state;
    int writer, other_writer;
    assert_int_equal(gc_lock_open(&fixture->tree, &writer), 0);
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_gc_lock(&fixture->tree, path), 0);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(gc_lock_open(&fixture->tree, &other_writer), 0);

    assert_int_equal(gc_lock_acquire(writer, GC_LOCK_SHARED), 0);
    assert_int_equal(gc_lock_acquire(other_writer, GC_LOCK_SHARED), 0);
    assert_false(could_take(&fixture->tree, LOCK_EX));
    gc_lock_release(writer);
    assert_false(could_take(&fixture->tree, LOCK_EX));
    gc_lock_release(other_writer);
    assert_true(could_take(&fixture->tree, LOCK_EX));
    close(writer);
    close(other_writer);
}

static void test_the_sweep_excludes_writers(void **state)
{
    struct fixture *fixture = *state;
    int sweep;
    assert_int_equal(gc_lock_open(&fixture->tree, &sweep), 0);
    assert_int_equal(gc_lock_acquire(sweep, GC_LOCK_EXCLUSIVE), 0);
    assert_false(could_take(&fixture->tree, LOCK_SH));
    gc_lock_release(sweep);
    assert_true(could_take(&fixture->tree, LOCK_SH));
    /* Closing the descriptor releases it too (a crashed holder). */
    assert_int_equal(gc_lock_acquire(sweep, GC_LOCK_EXCLUSIVE), 0);
    close(sweep);
    assert_true(could_take(&fixture->tree, LOCK_SH));
}

static void test_thread_descriptor_is_kept(void **state)
{
    struct fixture *fixture = *state;
    int fd = gc_lock_thread_descriptor(&fixture->tree);
    assert_true(fd >= 0);
    assert_int_equal(gc_lock_thread_descriptor(&fixture->tree), fd);
}

static void test_run_announcement(void **state)
{
    struct fixture *fixture = *state;
    long long mark_start = 0;
    assert_int_equal(gc_run_mark_start(&fixture->tree, &mark_start), -ENOENT);

    int run;
    assert_int_equal(gc_run_announce(&fixture->tree, &run), 0);
    assert_int_equal(gc_run_mark_start(&fixture->tree, &mark_start), 0);
    assert_true(mark_start == LLONG_MAX); /* announced, time not yet known */
    assert_int_equal(gc_run_record(run, 1234567890), 0);
    assert_int_equal(gc_run_mark_start(&fixture->tree, &mark_start), 0);
    assert_true(mark_start == 1234567890);

    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_gc_run(&fixture->tree, path), 0);
    gc_run_withdraw(&fixture->tree, run);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(gc_run_mark_start(&fixture->tree, &mark_start), -ENOENT);

    /* A file nobody holds (a crashed run) announces nothing. */
    support_write_string(path, "1234567890\n");
    assert_int_equal(gc_run_mark_start(&fixture->tree, &mark_start), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shared_holders_exclude_the_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_sweep_excludes_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thread_descriptor_is_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_announcement, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
