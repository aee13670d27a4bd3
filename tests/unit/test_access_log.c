/* Unit tests for src/observe/access_log.h: exact text lines, JSON that parses,
 * escaping of quotes, control bytes and UTF-8, truncation, bounds, request
 * ids, and the level filter of log_message(). */
#include "test_support.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>

#include "src/observe/access_log.h"

/* 2026-11-25T12:00:00.123Z */
static const struct timespec EXAMPLE_TIME = {1795608000, 123456789};

static struct access_log_entry example(const char *path)
{
    struct access_log_entry entry = {
        .time = EXAMPLE_TIME,
        .request_id = "3f2a0c9d1e4b5a67",
        .remote_address = "127.0.0.1",
        .user = "alice",
        .method = "GETxx", /* not NUL-terminated: only method_length counts */
        .method_length = 3,
        .path = path,
        .path_length = strlen(path),
        .status = 200,
        .bytes_in = 0,
        .bytes_out = 1234,
        .duration_seconds = 0.0012345,
    };
    return entry;
}

static char *format_line(enum log_format format, const struct access_log_entry *entry)
{
    static char buffer[ACCESS_LOG_LINE_MAX];
    int length = access_log_format(format, entry, buffer, sizeof buffer);
    assert_true(length > 0);
    assert_int_equal(strlen(buffer), length);
    /* One line: a single newline, at the end. */
    assert_int_equal(buffer[length - 1], '\n');
    assert_ptr_equal(strchr(buffer, '\n'), buffer + length - 1);
    return buffer;
}

static json_t *parse_line(const char *line)
{
    json_error_t error;
    json_t *root = json_loads(line, JSON_REJECT_DUPLICATES, &error);
    if (root == NULL)
        fail_msg("JSON line does not parse: %s: %s", error.text, line);
    assert_true(json_is_object(root));
    return root;
}

static void test_text(void **state)
{
    (void)state;
    struct access_log_entry entry = example("/v2/x/manifests/latest");
    assert_string_equal(format_line(LOG_FORMAT_TEXT, &entry),
                        "2026-11-25T12:00:00.123Z req=3f2a0c9d1e4b5a67 remote=127.0.0.1 "
                        "user=alice \"GET /v2/x/manifests/latest\" 200 in=0 out=1234 "
                        "dur=1.234ms\n");

    /* Absent user and remote are "-"; a user with a space or quote is quoted. */
    entry.user = NULL;
    entry.remote_address = NULL;
    assert_non_null(strstr(format_line(LOG_FORMAT_TEXT, &entry), " remote=- user=- \"GET"));
    entry.user = "CN=bob smith,O=\"x\"";
    assert_non_null(
        strstr(format_line(LOG_FORMAT_TEXT, &entry), " user=\"CN=bob smith,O=\\\"x\\\"\" \"GET"));
    entry.user = "";
    assert_non_null(strstr(format_line(LOG_FORMAT_TEXT, &entry), " user=\"\" \"GET"));
}

static void test_json(void **state)
{
    (void)state;
    struct access_log_entry entry = example("/v2/x/manifests/latest?n=1&last=a");
    json_t *root = parse_line(format_line(LOG_FORMAT_JSON, &entry));
    assert_string_equal(json_string_value(json_object_get(root, "time")),
                        "2026-11-25T12:00:00.123Z");
    assert_string_equal(json_string_value(json_object_get(root, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(root, "request_id")), "3f2a0c9d1e4b5a67");
    assert_string_equal(json_string_value(json_object_get(root, "remote")), "127.0.0.1");
    assert_string_equal(json_string_value(json_object_get(root, "user")), "alice");
    assert_string_equal(json_string_value(json_object_get(root, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(root, "path")),
                        "/v2/x/manifests/latest?n=1&last=a");
    assert_int_equal(json_integer_value(json_object_get(root, "status")), 200);
    assert_int_equal(json_integer_value(json_object_get(root, "bytes_in")), 0);
    assert_int_equal(json_integer_value(json_object_get(root, "bytes_out")), 1234);
    double duration = json_real_value(json_object_get(root, "duration_ms"));
    assert_true(duration > 1.2335 && duration < 1.2345);
    json_decref(root);

    entry.user = NULL;
    entry.bytes_in = 5000000000u; /* above 32 bits */
    root = parse_line(format_line(LOG_FORMAT_JSON, &entry));
    assert_true(json_is_null(json_object_get(root, "user")));
    json_decref(root);
}

/* Quotes, backslashes, control bytes, DEL, valid UTF-8 and an invalid byte. */
static const char NASTY[] =
    "/v2/a\"b\\c\nd\re\tf\x01g\x1f\x7fh/\xc3\xa9\xe2\x82\xac\xf0\x9f\x90\xb3"
    "i\xffj\xc3k\xed\xa0\x80";

static void test_text_escaping(void **state)
{
    (void)state;
    struct access_log_entry entry = example(NASTY);
    const char *line = format_line(LOG_FORMAT_TEXT, &entry);
    assert_non_null(strstr(line, "\"GET /v2/a\\\"b\\\\c\\nd\\re\\tf\\x01g\\x1f\\x7fh/"
                                 "\xc3\xa9\xe2\x82\xac\xf0\x9f\x90\xb3"
                                 "i\\xffj\\xc3k\\xed\\xa0\\x80\" 200 "));
    /* Nothing but printable ASCII, kept UTF-8 and the final newline. */
    for (const unsigned char *c = (const unsigned char *)line; *c != '\n'; c++)
        assert_true(*c >= 0x20 && *c != 0x7f);
}

static void test_json_escaping(void **state)
{
    (void)state;
    struct access_log_entry entry = example(NASTY);
    entry.user = "al\"ice\n";
    const char *line = format_line(LOG_FORMAT_JSON, &entry);
    for (const unsigned char *c = (const unsigned char *)line; *c != '\n'; c++)
        assert_true(*c >= 0x20 && *c != 0x7f);
    json_t *root = parse_line(line);
    /* Everything round-trips except invalid UTF-8, which became U+FFFD. */
    assert_string_equal(json_string_value(json_object_get(root, "path")),
                        "/v2/a\"b\\c\nd\re\tf\x01g\x1f\x7fh/\xc3\xa9\xe2\x82\xac\xf0\x9f\x90\xb3"
                        "i\xef\xbf\xbdj\xef\xbf\xbdk\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(json_string_value(json_object_get(root, "user")), "al\"ice\n");
    json_decref(root);
}

static void test_long_path(void **state)
{
    (void)state;
    char *path = malloc(10001);
    memset(path, 'a', 10000);
    path[10000] = '\0';
    struct access_log_entry entry = example(path);
    const char *line = format_line(LOG_FORMAT_TEXT, &entry);
    const char *start = strstr(line, "\"GET ") + 5;
    assert_int_equal(strspn(start, "a"), ACCESS_LOG_PATH_MAX);
    assert_memory_equal(start + ACCESS_LOG_PATH_MAX, "...\" 200", 8);

    json_t *root = parse_line(format_line(LOG_FORMAT_JSON, &entry));
    const char *logged = json_string_value(json_object_get(root, "path"));
    assert_int_equal(strlen(logged), ACCESS_LOG_PATH_MAX + 3);
    assert_string_equal(logged + ACCESS_LOG_PATH_MAX, "...");
    json_decref(root);

    /* A character across the cut is dropped whole (the JSON still parses,
     * jansson rejects invalid UTF-8). */
    memcpy(path + ACCESS_LOG_PATH_MAX - 1, "\xe2\x82\xac", 3);
    entry.path_length = strlen(path);
    root = parse_line(format_line(LOG_FORMAT_JSON, &entry));
    logged = json_string_value(json_object_get(root, "path"));
    assert_int_equal(strlen(logged), ACCESS_LOG_PATH_MAX - 1 + 3);
    assert_string_equal(logged + ACCESS_LOG_PATH_MAX - 1, "...");
    json_decref(root);
    line = format_line(LOG_FORMAT_TEXT, &entry);
    assert_non_null(strstr(line, "aaa...\" 200"));
    free(path);
}

/* The worst input in every field still fits ACCESS_LOG_LINE_MAX. */
static void test_bounds(void **state)
{
    (void)state;
    char *worst = malloc(20001);
    memset(worst, '\x01', 20000);
    worst[20000] = '\0';
    struct access_log_entry entry = example(worst);
    entry.user = worst;
    entry.remote_address = worst;
    entry.request_id = worst;
    entry.method = worst;
    entry.method_length = 20000;
    entry.status = -1;
    entry.bytes_in = entry.bytes_out = INT64_MAX; /* jansson reads up to int64 */
    entry.duration_seconds = 1e300;
    format_line(LOG_FORMAT_TEXT, &entry);
    json_decref(parse_line(format_line(LOG_FORMAT_JSON, &entry)));

    entry.duration_seconds = -5;
    json_t *root = parse_line(format_line(LOG_FORMAT_JSON, &entry));
    assert_true(json_number_value(json_object_get(root, "duration_ms")) == 0);
    json_decref(root);

    /* Too small a buffer is refused, not cut. */
    entry = example("/v2/");
    char small[40];
    assert_int_equal(access_log_format(LOG_FORMAT_TEXT, &entry, small, sizeof small), -ENOSPC);
    assert_string_equal(small, "");
    free(worst);
}

static void test_time_now(void **state)
{
    (void)state;
    struct access_log_entry entry = example("/v2/");
    entry.time.tv_sec = 0;
    entry.time.tv_nsec = 0;
    const char *line = format_line(LOG_FORMAT_TEXT, &entry);
    char year[16];
    time_t now = time(NULL);
    struct tm broken;
    gmtime_r(&now, &broken);
    snprintf(year, sizeof year, "%04d", broken.tm_year + 1900);
    assert_memory_equal(line, year, 4);
    assert_int_equal(line[23], 'Z');
}

static int compare_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void *generate_ids(void *argument)
{
    char(*ids)[REQUEST_ID_SIZE] = argument;
    for (int i = 0; i < 1000; i++)
        request_id_generate(ids[i]);
    return NULL;
}

static void test_request_ids(void **state)
{
    (void)state;
    static char ids[4000][REQUEST_ID_SIZE];
    pthread_t threads[4];
    for (int t = 0; t < 4; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, generate_ids, ids[t * 1000]), 0);
    for (int t = 0; t < 4; t++)
        assert_int_equal(pthread_join(threads[t], NULL), 0);
    for (int i = 0; i < 4000; i++) {
        assert_int_equal(strlen(ids[i]), 16);
        assert_int_equal(strspn(ids[i], "0123456789abcdef"), 16);
    }
    qsort(ids, 4000, REQUEST_ID_SIZE, compare_ids);
    for (int i = 1; i < 4000; i++)
        assert_true(strcmp(ids[i - 1], ids[i]) != 0);
}

static void test_message_lines(void **state)
{
    (void)state;
    char buffer[ACCESS_LOG_LINE_MAX];
    int length = log_format_line(LOG_FORMAT_TEXT, LOG_LEVEL_WARN, &EXAMPLE_TIME,
                                 "reload refused: \"x.yml\":3\nbad", buffer, sizeof buffer);
    assert_true(length > 0);
    assert_string_equal(buffer, "2026-11-25T12:00:00.123Z level=warn msg=\"reload refused: "
                                "\\\"x.yml\\\":3\\nbad\"\n");
    length = log_format_line(LOG_FORMAT_JSON, LOG_LEVEL_ERROR, &EXAMPLE_TIME, "a\"b\x02", buffer,
                             sizeof buffer);
    assert_string_equal(buffer, "{\"time\":\"2026-11-25T12:00:00.123Z\",\"level\":\"error\","
                                "\"msg\":\"a\\\"b\\u0002\"}\n");
    json_decref(parse_line(buffer));
}

/* Reads what the loggers wrote into the pipe (non-blocking). */
static size_t drain(int descriptor, char *buffer, size_t size)
{
    ssize_t got = read(descriptor, buffer, size - 1);
    if (got < 0) {
        assert_int_equal(errno, EAGAIN);
        got = 0;
    }
    buffer[got] = '\0';
    return (size_t)got;
}

static void test_log_message(void **state)
{
    (void)state;
    int pipe_ends[2];
    assert_int_equal(pipe2(pipe_ends, O_NONBLOCK | O_CLOEXEC), 0);
    int previous = log_set_descriptor(pipe_ends[1]);
    assert_int_equal(previous, 2);
    char buffer[ACCESS_LOG_LINE_MAX * 2];

    log_configure(LOG_LEVEL_WARN, LOG_FORMAT_TEXT);
    assert_int_equal(log_level_current(), LOG_LEVEL_WARN);
    assert_int_equal(log_format_current(), LOG_FORMAT_TEXT);
    assert_true(log_enabled(LOG_LEVEL_ERROR));
    assert_false(log_enabled(LOG_LEVEL_INFO));
    log_message(LOG_LEVEL_INFO, "hidden %d", 1);
    log_message(LOG_LEVEL_DEBUG, "hidden %d", 2);
    assert_int_equal(drain(pipe_ends[0], buffer, sizeof buffer), 0);
    log_message(LOG_LEVEL_WARN, "shown %d", 3);
    drain(pipe_ends[0], buffer, sizeof buffer);
    assert_non_null(strstr(buffer, "Z level=warn msg=\"shown 3\"\n"));

    log_configure(LOG_LEVEL_DEBUG, LOG_FORMAT_JSON);
    log_message(LOG_LEVEL_DEBUG, "two\nlines");
    drain(pipe_ends[0], buffer, sizeof buffer);
    json_t *root = parse_line(buffer);
    assert_string_equal(json_string_value(json_object_get(root, "level")), "debug");
    assert_string_equal(json_string_value(json_object_get(root, "msg")), "two\nlines");
    json_decref(root);

    /* A message past LOG_MESSAGE_MAX is cut with "...". */
    char *long_message = malloc(5000);
    memset(long_message, 'm', 4999);
    long_message[4999] = '\0';
    log_message(LOG_LEVEL_ERROR, "%s", long_message);
    drain(pipe_ends[0], buffer, sizeof buffer);
    root = parse_line(buffer);
    assert_int_equal(strlen(json_string_value(json_object_get(root, "msg"))), LOG_MESSAGE_MAX + 3);
    json_decref(root);
    free(long_message);

    /* The access log goes to the same descriptor, one write per line. */
    struct access_log_entry entry = example("/v2/");
    assert_int_equal(access_log_write(LOG_FORMAT_TEXT, &entry), 0);
    size_t length = drain(pipe_ends[0], buffer, sizeof buffer);
    assert_int_equal(buffer[length - 1], '\n');
    assert_non_null(strstr(buffer, "\"GET /v2/\" 200"));

    /* A write failure is reported by access_log_write, swallowed by log_message. */
    close(pipe_ends[0]);
    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(access_log_write(LOG_FORMAT_TEXT, &entry), -EPIPE);
    log_message(LOG_LEVEL_ERROR, "dropped");

    log_set_descriptor(previous);
    close(pipe_ends[1]);
    log_configure(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
}

static size_t count_lines(const char *text)
{
    size_t lines = 0;
    for (; *text != '\0'; text++)
        lines += *text == '\n';
    return lines;
}

/* Batching is per thread: run on a thread of its own, as a loop would. */
static void *batching_thread(void *argument)
{
    int reader = ((int *)argument)[0];
    static char buffer[ACCESS_LOG_LINE_MAX * 2];
    struct access_log_entry entry = example("/v2/batched/manifests/latest");
    access_log_batch_start();

    /* Nothing is written before the flush; then all of it, in order. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(access_log_write(LOG_FORMAT_TEXT, &entry), 0);
    assert_int_equal(drain(reader, buffer, sizeof buffer), 0);
    assert_int_equal(access_log_flush(), 0);
    drain(reader, buffer, sizeof buffer);
    assert_int_equal(count_lines(buffer), 3);
    assert_int_equal(access_log_flush(), 0); /* nothing left */
    assert_int_equal(drain(reader, buffer, sizeof buffer), 0);

    /* A log_message() line of the same thread comes after its earlier lines. */
    assert_int_equal(access_log_write(LOG_FORMAT_TEXT, &entry), 0);
    log_message(LOG_LEVEL_WARN, "after the request");
    drain(reader, buffer, sizeof buffer);
    char *request = strstr(buffer, "\"GET /v2/batched"), *message = strstr(buffer, "after the");
    assert_non_null(request);
    assert_non_null(message);
    assert_true(request < message);

    /* A full batch goes out at once, in whole lines of at most one batch. */
    size_t total = 0;
    for (int i = 0; i < 200; i++) {
        assert_int_equal(access_log_write(LOG_FORMAT_TEXT, &entry), 0);
        size_t length = drain(reader, buffer, sizeof buffer);
        assert_true(length <= ACCESS_LOG_BATCH_MAX);
        if (length > 0) {
            assert_int_equal(buffer[length - 1], '\n');
            total += count_lines(buffer);
        }
    }
    assert_true(total > 0 && total < 200);
    assert_int_equal(access_log_flush(), 0);
    drain(reader, buffer, sizeof buffer);
    total += count_lines(buffer);
    assert_int_equal(total, 200);
    return NULL;
}

static void test_batching(void **state)
{
    (void)state;
    int pipe_ends[2];
    assert_int_equal(pipe2(pipe_ends, O_NONBLOCK | O_CLOEXEC), 0);
    int previous = log_set_descriptor(pipe_ends[1]);
    log_configure(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, batching_thread, pipe_ends), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    /* This thread never started a batch: its line is written at once. */
    struct access_log_entry entry = example("/v2/");
    assert_int_equal(access_log_write(LOG_FORMAT_TEXT, &entry), 0);
    char buffer[ACCESS_LOG_LINE_MAX];
    drain(pipe_ends[0], buffer, sizeof buffer);
    assert_int_equal(count_lines(buffer), 1);
    log_set_descriptor(previous);
    close(pipe_ends[0]);
    close(pipe_ends[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),          cmocka_unit_test(test_json),
        cmocka_unit_test(test_text_escaping), cmocka_unit_test(test_json_escaping),
        cmocka_unit_test(test_long_path),     cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_time_now),      cmocka_unit_test(test_request_ids),
        cmocka_unit_test(test_message_lines), cmocka_unit_test(test_log_message),
        cmocka_unit_test(test_batching),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
