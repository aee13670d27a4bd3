/* Unit tests for src/http/endpoints.h: the table itself, and that
 * docs/api.md's endpoint table (the path is the program's argument) lists
 * the same (method, route) rows with the same access. */
#include "test_support.h"

#include "src/auth/access_rules.h"
#include "src/http/endpoints.h"

static const char *api_document; /* argv[1] */

#define DOC_ROWS_MAX 64

struct doc_row {
    char method[16];
    enum route_kind route;
    unsigned access;
    int line;
};

/* The text of the n-th `|`-separated cell of a table line, trimmed. */
static int cell(const char *line, int n, char *out, size_t out_size)
{
    const char *start = line;
    for (int i = 0; i <= n; i++) {
        start = strchr(start, '|');
        if (start == NULL)
            return -1;
        start++;
    }
    const char *end = strchr(start, '|');
    if (end == NULL)
        return -1;
    while (start < end && *start == ' ')
        start++;
    while (end > start && end[-1] == ' ')
        end--;
    if ((size_t)(end - start) >= out_size)
        return -1;
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
    return 0;
}

/* "`X`" -> "X" in place; -1 when the cell is not one code span. */
static int unquote(char *text)
{
    size_t length = strlen(text);
    if (length < 3 || text[0] != '`' || text[length - 1] != '`')
        return -1;
    memmove(text, text + 1, length - 2);
    text[length - 2] = '\0';
    return 0;
}

/* The documented path with its placeholders filled in, routed. */
static enum route_kind route_of(const char *documented, int line)
{
    static const struct {
        const char *placeholder, *value;
    } fills[] = {
        {"<name>", "library/app"},
        {"<reference>", "latest"},
        {"<digest>", "sha256:" HEX_A},
        {"<id>", "8a2c4e3d-0b1f-4c6a-9d2e-3f4a5b6c7d8e"},
    };
    char path[512] = "";
    for (const char *cursor = documented; *cursor != '\0';) {
        size_t i = 0;
        while (i < sizeof fills / sizeof fills[0] &&
               strncmp(cursor, fills[i].placeholder, strlen(fills[i].placeholder)) != 0)
            i++;
        assert_true(strlen(path) + 64 < sizeof path);
        if (i < sizeof fills / sizeof fills[0]) {
            strcat(path, fills[i].value);
            cursor += strlen(fills[i].placeholder);
        } else {
            size_t length = strlen(path);
            path[length] = *cursor++;
            path[length + 1] = '\0';
        }
    }
    struct route route;
    if (route_parse(path, strlen(path), &route) < 0)
        fail_msg("docs/api.md line %d: %s is no route (%s)", line, documented, path);
    return route.kind;
}

static unsigned access_of(const char *text, int line)
{
    if (strcmp(text, "—") == 0)
        return 0;
    if (strcmp(text, "pull") == 0)
        return ACCESS_PULL;
    if (strcmp(text, "push") == 0)
        return ACCESS_PUSH;
    if (strcmp(text, "delete") == 0)
        return ACCESS_DELETE;
    if (strcmp(text, "catalog") == 0)
        return ACCESS_CATALOG;
    fail_msg("docs/api.md line %d: unknown access \"%s\"", line, text);
    return 0;
}

/* The rows of the table under "## Endpoints" whose first cell is a method. */
static size_t read_document(struct doc_row rows[DOC_ROWS_MAX])
{
    assert_non_null(api_document);
    FILE *file = fopen(api_document, "r");
    if (file == NULL)
        fail_msg("cannot open %s", api_document);
    char line[1024];
    int number = 0, in_endpoints = 0;
    size_t count = 0;
    while (fgets(line, sizeof line, file) != NULL) {
        number++;
        if (strncmp(line, "## ", 3) == 0)
            in_endpoints = strncmp(line, "## Endpoints", 12) == 0;
        char method[16], path[256], access[32];
        if (!in_endpoints || line[0] != '|' || cell(line, 0, method, sizeof method) < 0 ||
            unquote(method) < 0 || strchr(method, ' ') != NULL)
            continue;
        if (cell(line, 1, path, sizeof path) < 0 || unquote(path) < 0 ||
            cell(line, 2, access, sizeof access) < 0)
            fail_msg("docs/api.md line %d: not | `METHOD` | `PATH` | access | what |", number);
        assert_true(count < DOC_ROWS_MAX);
        memcpy(rows[count].method, method, sizeof method);
        rows[count].route = route_of(path, number);
        rows[count].access = access_of(access, number);
        rows[count].line = number;
        count++;
    }
    fclose(file);
    return count;
}

static void test_document_lists_the_table(void **state)
{
    (void)state;
    struct doc_row rows[DOC_ROWS_MAX];
    size_t documented = read_document(rows), count;
    const struct endpoint *table = endpoint_table(&count);
    assert_true(documented > 0);
    for (size_t i = 0; i < documented; i++) {
        const struct endpoint *row =
            endpoint_find(rows[i].route, rows[i].method, strlen(rows[i].method));
        if (row == NULL)
            fail_msg("docs/api.md line %d: %s is documented but not in the table", rows[i].line,
                     rows[i].method);
        if (row->access != rows[i].access)
            fail_msg("docs/api.md line %d: access %u documented, %u in the table", rows[i].line,
                     rows[i].access, row->access);
        for (size_t j = 0; j < i; j++)
            if (rows[j].route == rows[i].route && strcmp(rows[j].method, rows[i].method) == 0)
                fail_msg("docs/api.md line %d repeats line %d", rows[i].line, rows[j].line);
    }
    for (size_t i = 0; i < count; i++) {
        size_t j = 0;
        while (j < documented &&
               !(rows[j].route == table[i].route && strcmp(rows[j].method, table[i].method) == 0))
            j++;
        if (j == documented)
            fail_msg("%s on route %d is in the table but not in docs/api.md", table[i].method,
                     (int)table[i].route);
    }
    assert_int_equal(documented, count);
}

static void test_rows(void **state)
{
    (void)state;
    size_t count;
    const struct endpoint *table = endpoint_table(&count);
    assert_true(count > 0);
    for (size_t i = 0; i < count; i++) {
        const struct endpoint *row = &table[i];
        assert_non_null(row->handler);
        assert_ptr_equal(endpoint_find(row->route, row->method, strlen(row->method)), row);
        int reads = strcmp(row->method, "GET") == 0 || strcmp(row->method, "HEAD") == 0;
        /* GET and HEAD never write; everything that writes runs on a worker. */
        assert_int_equal(row->writes, !reads);
        if (row->writes)
            assert_int_equal(row->runs, ENDPOINT_ON_WORKER);
        if (row->deletes)
            assert_true(row->writes && strcmp(row->method, "DELETE") == 0 &&
                        row->access == ACCESS_DELETE);
        /* HEAD is GET without the body: the same handler. */
        if (strcmp(row->method, "GET") == 0) {
            const struct endpoint *head = endpoint_find(row->route, "HEAD", 4);
            assert_non_null(head);
            assert_ptr_equal(head->handler, row->handler);
            assert_int_equal(head->access, row->access);
        }
    }
}

static void test_find(void **state)
{
    (void)state;
    const struct endpoint *row = endpoint_find(ROUTE_MANIFEST, "DELETEX", 6);
    assert_non_null(row); /* the length counts, not a NUL */
    assert_string_equal(row->method, "DELETE");
    assert_true(row->deletes);
    assert_null(endpoint_find(ROUTE_MANIFEST, "PATCH", 5));
    assert_null(endpoint_find(ROUTE_MANIFEST, "get", 3));
    assert_null(endpoint_find(ROUTE_UPLOAD_START, "GET", 3));
    assert_null(endpoint_find(ROUTE_BLOB, "PUT", 3));
    assert_false(endpoint_find(ROUTE_UPLOAD, "DELETE", 6)->deletes); /* a cancel */
    assert_int_equal(endpoint_route_access(ROUTE_BASE), 0);
    assert_int_equal(endpoint_route_access(ROUTE_CATALOG), ACCESS_CATALOG);
    assert_int_equal(endpoint_route_access(ROUTE_MANIFEST), ACCESS_PUSH);
    assert_int_equal(endpoint_route_access(ROUTE_BLOB), ACCESS_PULL);
}

static void test_repository_and_metrics_label(void **state)
{
    (void)state;
    struct route route;
    assert_int_equal(route_parse("/v2/_catalog", 12, &route), 0);
    assert_null(endpoint_route_repository(&route));
    assert_int_equal(route_parse("/v2/a/b/tags/list", 17, &route), 0);
    assert_string_equal(endpoint_route_repository(&route), "a/b");
    assert_int_equal(endpoint_metrics_route(ROUTE_BASE), METRICS_ROUTE_BASE);
    assert_int_equal(endpoint_metrics_route(ROUTE_TAGS_LIST), METRICS_ROUTE_TAGS);
    assert_int_equal(endpoint_metrics_route(ROUTE_UPLOAD_START), METRICS_ROUTE_UPLOAD);
    assert_int_equal(endpoint_metrics_route(ROUTE_UPLOAD), METRICS_ROUTE_UPLOAD);
    assert_int_equal(endpoint_metrics_route(ROUTE_REFERRERS), METRICS_ROUTE_REFERRERS);
    assert_int_equal(endpoint_metrics_route((enum route_kind)99), METRICS_ROUTE_OTHER);
}

int main(int argc, char **argv)
{
    api_document = argc > 1 ? argv[1] : NULL;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_document_lists_the_table),
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_repository_and_metrics_label),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
