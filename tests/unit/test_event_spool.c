/* Unit tests for src/observe/event_spool.c: appends, reads, positions,
 * reopening after a crash, the bounds and the trim. */
#include "test_support.h"

#include <errno.h>
#include <pthread.h>
#include <sys/time.h>

#include "src/observe/event_spool.h"

static struct event_spool *open_spool(const char *root, uint64_t max_bytes, uint64_t max_age)
{
    char path[PATH_MAX];
    support_path(path, "%s/spool", root);
    struct event_spool *spool = NULL;
    assert_int_equal(event_spool_open(path, max_bytes, max_age, &spool), 0);
    return spool;
}

static void append_text(struct event_spool *spool, const char *text, int durable, uint64_t expected)
{
    uint64_t sequence = 0;
    assert_int_equal(event_spool_append(spool, text, strlen(text), durable, &sequence), 0);
    assert_int_equal(sequence, expected);
}

static void expect_event(struct event_spool *spool, uint64_t sequence, const char *text)
{
    char *event = NULL;
    size_t length = 0;
    assert_int_equal(event_spool_read(spool, sequence, &event, &length), 1);
    assert_int_equal(length, strlen(text));
    assert_string_equal(event, text);
    free(event);
}

static void test_append_read_reopen(void **state)
{
    (void)state;
    char *root = support_root_create();
    struct event_spool *spool = open_spool(root, 1 << 30, 0);
    assert_int_equal(event_spool_end(spool), 1);
    append_text(spool, "{\"n\":1}", 1, 1);
    append_text(spool, "{\"n\":2}", 0, 2);
    append_text(spool, "{\"n\":3}", 1, 3);
    expect_event(spool, 2, "{\"n\":2}");
    char *event = NULL;
    size_t length = 0;
    assert_int_equal(event_spool_read(spool, 4, &event, &length), 0); /* not written yet */
    assert_int_equal(event_spool_append(spool, "a\nb", 3, 0, NULL), -EINVAL);

    /* A second server on the same spool is refused. */
    char path[PATH_MAX];
    support_path(path, "%s/spool", root);
    struct event_spool *other = NULL;
    assert_int_equal(event_spool_open(path, 1 << 30, 0, &other), -EBUSY);

    /* Positions: a new endpoint starts at the end; set, read back. */
    assert_int_equal(event_spool_position(spool, "hook"), 4);
    assert_int_equal(event_spool_set_position(spool, "hook", 2), 0);
    assert_int_equal(event_spool_position(spool, "hook"), 2);
    assert_int_equal(event_spool_set_position(spool, "../odd name", 3), 0);
    assert_int_equal(event_spool_position(spool, "../odd name"), 3);
    event_spool_close(spool);

    /* A crash mid-append left a partial line: cut off at the next open. */
    support_path(path, "%s/spool/queue/00000000000000000001.events", root);
    FILE *segment = fopen(path, "a");
    assert_non_null(segment);
    fputs("{\"partial\":", segment);
    fclose(segment);
    spool = open_spool(root, 1 << 30, 0);
    assert_int_equal(event_spool_end(spool), 4);
    expect_event(spool, 3, "{\"n\":3}");
    assert_int_equal(event_spool_position(spool, "hook"), 2);
    append_text(spool, "{\"n\":4}", 1, 4);
    expect_event(spool, 4, "{\"n\":4}");
    event_spool_close(spool);
    support_root_remove(root);
}

/* Segments roll over; what every endpoint passed is removed; the bounds drop
 * whole segments from a lagging endpoint's backlog. */
static void test_segments_trim_and_bounds(void **state)
{
    (void)state;
    char *root = support_root_create();
    /* max_bytes 1 MiB: segments of 64 KiB (1/16, at least 64 KiB). */
    struct event_spool *spool = open_spool(root, 1 << 20, 0);
    char event[1024];
    memset(event, 'x', sizeof event);
    event[0] = '{';
    event[sizeof event - 2] = '}';
    event[sizeof event - 1] = '\0';
    const uint64_t count = 2000; /* ~2 MiB: twice the bound */
    for (uint64_t i = 1; i <= count; i++)
        append_text(spool, event, 0, i);
    /* An endpoint at the start has 2 MiB of backlog: the oldest segments go. */
    uint64_t dropped = 0;
    uint64_t next = event_spool_bound(spool, 1, &dropped);
    assert_true(dropped > 0);
    assert_int_equal(next, 1 + dropped);
    assert_true((count - next + 1) * sizeof event <= (1 << 20) + 64 * 1024 + sizeof event);
    /* Within the bound: nothing more to drop. */
    assert_int_equal(event_spool_bound(spool, next, &dropped), next);
    assert_int_equal(dropped, 0);
    /* Trimmed up to the lowest position: the oldest still there is at most
     * it, and reading below answers -ENOENT. */
    event_spool_trim(spool, &next, 1);
    uint64_t oldest = event_spool_oldest(spool);
    assert_true(oldest > 1 && oldest <= next);
    char *text = NULL;
    size_t length = 0;
    assert_int_equal(event_spool_read(spool, 1, &text, &length), -ENOENT);
    expect_event(spool, next, event);
    expect_event(spool, count, event);
    event_spool_close(spool);

    /* Reopened: the numbering and the oldest survive. */
    spool = open_spool(root, 1 << 20, 0);
    assert_int_equal(event_spool_end(spool), count + 1);
    assert_int_equal(event_spool_oldest(spool), oldest);
    /* Age: a backlog whose segments were last written long ago is dropped
     * but for the segment being written. */
    event_spool_close(spool);
    spool = open_spool(root, 0, 1);
    sleep(2);
    next = event_spool_bound(spool, oldest, &dropped);
    assert_true(dropped > 0);
    assert_true(next <= count);
    event_spool_close(spool);
    support_root_remove(root);
}

struct appender {
    struct event_spool *spool;
    int failures;
};

static void *append_many(void *context)
{
    struct appender *appender = context;
    for (int i = 0; i < 50; i++)
        if (event_spool_append(appender->spool, "{\"durable\":true}", 16, 1, NULL) != 0)
            appender->failures++;
    return NULL;
}

/* Durable appends from several threads at once: all there, in one
 * numbering, none lost. */
static void test_concurrent_durable_appends(void **state)
{
    (void)state;
    char *root = support_root_create();
    struct event_spool *spool = open_spool(root, 1 << 30, 0);
    pthread_t threads[4];
    struct appender appenders[4];
    for (int i = 0; i < 4; i++) {
        appenders[i] = (struct appender){.spool = spool};
        assert_int_equal(pthread_create(&threads[i], NULL, append_many, &appenders[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(appenders[i].failures, 0);
    }
    assert_int_equal(event_spool_end(spool), 201);
    for (uint64_t i = 1; i <= 200; i++)
        expect_event(spool, i, "{\"durable\":true}");
    event_spool_close(spool);
    support_root_remove(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_read_reopen),
        cmocka_unit_test(test_segments_trim_and_bounds),
        cmocka_unit_test(test_concurrent_durable_appends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
