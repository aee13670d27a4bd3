/* Unit tests for src/observe/metrics.h: exposition syntax, values, histogram
 * cumulativity, exact totals under concurrent recording. */
#include "test_support.h"

#include <ctype.h>
#include <pthread.h>

#include "src/observe/metrics.h"
#include "version.h"

static char *render(void)
{
    char *text = NULL;
    size_t length = 0;
    assert_int_equal(metrics_render(&text, &length), 0);
    assert_non_null(text);
    assert_int_equal(strlen(text), length);
    return text;
}

/* The value of the series written exactly as `series` ("name{labels}"), or
 * -1 when the exposition has no such line. */
static double value_of(const char *text, const char *series)
{
    size_t length = strlen(series);
    for (const char *line = text; *line != '\0';) {
        const char *end = strchr(line, '\n');
        assert_non_null(end);
        if ((size_t)(end - line) > length && strncmp(line, series, length) == 0 &&
            line[length] == ' ')
            return strtod(line + length + 1, NULL);
        line = end + 1;
    }
    return -1;
}

static int name_character(char c, int first)
{
    return isalpha((unsigned char)c) || c == '_' || c == ':' ||
           (!first && isdigit((unsigned char)c));
}

/* One sample line: name, optional {label="value",...}, a space, a number. */
static void check_sample(const char *line, size_t length)
{
    size_t i = 0;
    assert_true(length > 0 && name_character(line[0], 1));
    while (i < length && name_character(line[i], i == 0))
        i++;
    if (i < length && line[i] == '{') {
        i++;
        for (;;) {
            size_t start = i;
            while (i < length && name_character(line[i], i == start))
                i++;
            assert_true(i > start);
            assert_true(i + 1 < length && line[i] == '=' && line[i + 1] == '"');
            i += 2;
            while (i < length && line[i] != '"') {
                assert_true(line[i] != '\\' && line[i] != '\n');
                i++;
            }
            assert_true(i < length);
            i++; /* closing quote */
            assert_true(i < length);
            if (line[i] == ',') {
                i++;
                continue;
            }
            assert_int_equal(line[i], '}');
            i++;
            break;
        }
    }
    assert_true(i < length && line[i] == ' ');
    i++;
    char number[64];
    assert_true(length - i > 0 && length - i < sizeof number);
    memcpy(number, line + i, length - i);
    number[length - i] = '\0';
    char *end;
    strtod(number, &end);
    assert_true(end != number && *end == '\0');
}

static void check_syntax(const char *text)
{
    size_t length = strlen(text);
    assert_true(length > 0 && text[length - 1] == '\n');
    for (const char *line = text; *line != '\0';) {
        const char *end = strchr(line, '\n');
        if (line[0] == '#')
            assert_true(strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0);
        else
            check_sample(line, (size_t)(end - line));
        line = end + 1;
    }
}

static void test_syntax(void **state)
{
    (void)state;
    metrics_reset();
    metrics_record_request(METRICS_ROUTE_MANIFEST, METRICS_METHOD_GET, 200, 0.002, 0, 1234);
    metrics_record_request(METRICS_ROUTE_OTHER, METRICS_METHOD_OTHER, 418, 0.5, 10, 0);
    metrics_upload_started();
    metrics_reload(1);
    metrics_auth_failure(METRICS_AUTH_BAD_PASSWORD);
    char *text = render();
    check_syntax(text);
    assert_non_null(strstr(text, "# TYPE cairn_http_requests_total counter\n"));
    assert_non_null(strstr(text, "# TYPE cairn_http_request_duration_seconds histogram\n"));
    assert_non_null(strstr(text, "# TYPE cairn_uploads_in_progress gauge\n"));
    free(text);

    /* Empty counters render too. */
    metrics_reset();
    text = render();
    check_syntax(text);
    free(text);
}

static void test_request_values(void **state)
{
    (void)state;
    metrics_reset();
    for (int i = 0; i < 3; i++)
        metrics_record_request(METRICS_ROUTE_MANIFEST, METRICS_METHOD_GET, 200, 0.002, 0, 100);
    metrics_record_request(METRICS_ROUTE_BLOB, METRICS_METHOD_HEAD, 404, 0.001, 0, 0);
    metrics_record_request(METRICS_ROUTE_UPLOAD, METRICS_METHOD_PATCH, 202, 0.3, 5000, 0);
    metrics_record_request(METRICS_ROUTE_UPLOAD, METRICS_METHOD_PATCH, 418, 0.3, 7, 0);
    metrics_record_request(METRICS_ROUTE_COUNT + 3, METRICS_METHOD_COUNT + 1, 999, -1, 0, 0);
    char *text = render();
    assert_true(value_of(text, "cairn_http_requests_total{route=\"manifest\",method=\"GET\","
                               "status=\"200\"}") == 3);
    assert_true(value_of(text, "cairn_http_requests_total{route=\"blob\",method=\"HEAD\","
                               "status=\"404\"}") == 1);
    assert_true(value_of(text, "cairn_http_requests_total{route=\"upload\",method=\"PATCH\","
                               "status=\"202\"}") == 1);
    assert_true(value_of(text, "cairn_http_requests_total{route=\"upload\",method=\"PATCH\","
                               "status=\"other\"}") == 1);
    /* Out-of-range enums and statuses land in "other". */
    assert_true(value_of(text, "cairn_http_requests_total{route=\"other\",method=\"other\","
                               "status=\"other\"}") == 1);
    /* Zero series are left out. */
    assert_true(value_of(text, "cairn_http_requests_total{route=\"manifest\",method=\"PUT\","
                               "status=\"201\"}") == -1);
    assert_true(value_of(text, "cairn_http_request_bytes_total{route=\"upload\"}") == 5007);
    assert_true(value_of(text, "cairn_http_response_bytes_total{route=\"manifest\"}") == 300);
    assert_true(value_of(text, "cairn_http_response_bytes_total{route=\"catalog\"}") == 0);
    /* A negative duration counts as 0: in the first bucket. */
    assert_true(value_of(text, "cairn_http_request_duration_seconds_bucket{route=\"other\","
                               "le=\"0.001\"}") == 1);
    free(text);
}

static void test_histogram(void **state)
{
    (void)state;
    metrics_reset();
    const double durations[] = {0.0005, 0.001, 0.003, 0.2, 2, 100};
    double sum = 0;
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
        metrics_record_request(METRICS_ROUTE_MANIFEST, METRICS_METHOD_PUT, 201, durations[i], 0, 0);
        sum += durations[i];
    }
    char *text = render();
    static const char *const bounds[] = {"0.001", "0.005", "0.01", "0.05", "0.1",
                                         "0.5",   "1",     "5",    "30",   "+Inf"};
    static const double expected[] = {2, 3, 3, 3, 3, 4, 4, 5, 5, 6};
    char series[200];
    for (size_t i = 0; i < 10; i++) {
        snprintf(series, sizeof series,
                 "cairn_http_request_duration_seconds_bucket{route=\"manifest\",le=\"%s\"}",
                 bounds[i]);
        assert_true(value_of(text, series) == expected[i]);
    }
    assert_true(value_of(text, "cairn_http_request_duration_seconds_count{route=\"manifest\"}") ==
                6);
    double rendered_sum =
        value_of(text, "cairn_http_request_duration_seconds_sum{route=\"manifest\"}");
    assert_true(rendered_sum > sum - 1e-6 && rendered_sum < sum + 1e-6);

    /* Every route: buckets never decrease and +Inf equals _count. */
    static const char *const routes[] = {"base",   "catalog",   "tags",    "manifest", "blob",
                                         "upload", "referrers", "metrics", "health",   "other"};
    for (size_t r = 0; r < 10; r++) {
        double previous = 0;
        for (size_t i = 0; i < 10; i++) {
            snprintf(series, sizeof series,
                     "cairn_http_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"}",
                     routes[r], bounds[i]);
            double value = value_of(text, series);
            assert_true(value >= previous);
            previous = value;
        }
        snprintf(series, sizeof series, "cairn_http_request_duration_seconds_count{route=\"%s\"}",
                 routes[r]);
        assert_true(value_of(text, series) == previous);
    }
    free(text);
}

static void test_other_series(void **state)
{
    (void)state;
    metrics_reset();
    metrics_upload_started();
    metrics_upload_started();
    metrics_upload_finished();
    metrics_reload(1);
    metrics_reload(1);
    metrics_reload(0);
    metrics_auth_failure(METRICS_AUTH_TOKEN_EXPIRED);
    metrics_auth_failure(METRICS_AUTH_TOKEN_EXPIRED);
    metrics_auth_failure(METRICS_AUTH_DENIED);
    metrics_auth_failure(METRICS_AUTH_FAILURE_COUNT); /* ignored */
    char *text = render();
    assert_true(value_of(text, "cairn_uploads_in_progress") == 1);
    free(text);
    metrics_uploads_set(7); /* seeded from the uploads on disk */
    metrics_upload_finished();
    text = render();
    assert_true(value_of(text, "cairn_uploads_in_progress") == 6);
    assert_true(value_of(text, "cairn_config_reloads_total{result=\"success\"}") == 2);
    assert_true(value_of(text, "cairn_config_reloads_total{result=\"failure\"}") == 1);
    assert_true(value_of(text, "cairn_auth_failures_total{reason=\"token_expired\"}") == 2);
    assert_true(value_of(text, "cairn_auth_failures_total{reason=\"denied\"}") == 1);
    assert_true(value_of(text, "cairn_auth_failures_total{reason=\"missing\"}") == 0);
    assert_true(value_of(text, "cairn_build_info{version=\"" CAIRN_VERSION "\"}") == 1);
    double start = value_of(text, "process_start_time_seconds");
    assert_true(start > 1.6e9 && start <= (double)time(NULL) + 1);
    free(text);
}

static void test_labels(void **state)
{
    (void)state;
    assert_int_equal(metrics_method_parse("GET", 3), METRICS_METHOD_GET);
    assert_int_equal(metrics_method_parse("HEAD", 4), METRICS_METHOD_HEAD);
    assert_int_equal(metrics_method_parse("DELETE", 6), METRICS_METHOD_DELETE);
    assert_int_equal(metrics_method_parse("PATCH", 5), METRICS_METHOD_PATCH);
    assert_int_equal(metrics_method_parse("GETX", 3), METRICS_METHOD_GET); /* length counts */
    assert_int_equal(metrics_method_parse("get", 3), METRICS_METHOD_OTHER);
    assert_int_equal(metrics_method_parse("GETX", 4), METRICS_METHOD_OTHER);
    assert_int_equal(metrics_method_parse("", 0), METRICS_METHOD_OTHER);
}

#define THREADS 4
#define RECORDS 100000

static void *record_many(void *argument)
{
    (void)argument;
    for (int i = 0; i < RECORDS; i++) {
        metrics_record_request(METRICS_ROUTE_BLOB, METRICS_METHOD_GET, 200, 0.002, 1, 2);
        if (i % 2 == 0)
            metrics_upload_started();
        if (i % 4 == 0)
            metrics_upload_finished();
        if (i % 10 == 0)
            metrics_auth_failure(METRICS_AUTH_MALFORMED);
    }
    return NULL;
}

static void test_concurrency(void **state)
{
    (void)state;
    metrics_reset();
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, record_many, NULL), 0);
    /* Rendering while others record is allowed. */
    free(render());
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    char *text = render();
    check_syntax(text);
    double total = (double)THREADS * RECORDS;
    assert_true(value_of(text, "cairn_http_requests_total{route=\"blob\",method=\"GET\","
                               "status=\"200\"}") == total);
    assert_true(value_of(text, "cairn_http_request_duration_seconds_count{route=\"blob\"}") ==
                total);
    assert_true(value_of(text, "cairn_http_request_duration_seconds_bucket{route=\"blob\","
                               "le=\"0.005\"}") == total);
    assert_true(value_of(text, "cairn_http_request_duration_seconds_bucket{route=\"blob\","
                               "le=\"0.001\"}") == 0);
    assert_true(value_of(text, "cairn_http_request_bytes_total{route=\"blob\"}") == total);
    assert_true(value_of(text, "cairn_http_response_bytes_total{route=\"blob\"}") == 2 * total);
    assert_true(value_of(text, "cairn_uploads_in_progress") == total / 4);
    assert_true(value_of(text, "cairn_auth_failures_total{reason=\"malformed\"}") == total / 10);
    double sum = value_of(text, "cairn_http_request_duration_seconds_sum{route=\"blob\"}");
    assert_true(sum > total * 0.002 - 0.01 && sum < total * 0.002 + 0.01);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax),    cmocka_unit_test(test_request_values),
        cmocka_unit_test(test_histogram), cmocka_unit_test(test_other_series),
        cmocka_unit_test(test_labels),    cmocka_unit_test(test_concurrency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
