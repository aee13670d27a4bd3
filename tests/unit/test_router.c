/* Unit tests for src/http/router.h. */
#include "test_support.h"

#include "src/registry/registry_error.h"
#include "src/http/router.h"

static struct route parse_ok(const char *path)
{
    struct route route;
    assert_int_equal(route_parse(path, strlen(path), &route), 0);
    return route;
}

static int parse_error(const char *path)
{
    struct route route;
    return route_parse(path, strlen(path), &route);
}

static void test_endpoints(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("/v2/").kind, ROUTE_BASE);
    assert_int_equal(parse_ok("/v2").kind, ROUTE_BASE);
    assert_int_equal(parse_ok("/v2/_catalog").kind, ROUTE_CATALOG);

    struct route route = parse_ok("/v2/library/alpine/tags/list");
    assert_int_equal(route.kind, ROUTE_TAGS_LIST);
    assert_string_equal(route.name, "library/alpine");

    route = parse_ok("/v2/a/b/c/manifests/v1.0");
    assert_int_equal(route.kind, ROUTE_MANIFEST);
    assert_string_equal(route.name, "a/b/c");
    assert_string_equal(route.reference, "v1.0");

    route = parse_ok("/v2/a/blobs/uploads/");
    assert_int_equal(route.kind, ROUTE_UPLOAD_START);
    assert_string_equal(route.name, "a");
    assert_int_equal(parse_ok("/v2/a/blobs/uploads").kind, ROUTE_UPLOAD_START);

    route = parse_ok("/v2/a/blobs/uploads/0f0e0d0c-0b0a-4908-8706-050403020100");
    assert_int_equal(route.kind, ROUTE_UPLOAD);
    assert_string_equal(route.reference, "0f0e0d0c-0b0a-4908-8706-050403020100");

    route = parse_ok("/v2/a/blobs/sha256:" HEX_A);
    assert_int_equal(route.kind, ROUTE_BLOB);
    assert_string_equal(route.reference, "sha256:" HEX_A);

    route = parse_ok("/v2/a/referrers/sha256:" HEX_A);
    assert_int_equal(route.kind, ROUTE_REFERRERS);
}

static void test_keywords_inside_names(void **state)
{
    (void)state;
    /* A repository may itself be called "blobs" or "manifests". */
    struct route route = parse_ok("/v2/x/blobs/blobs/uploads/");
    assert_int_equal(route.kind, ROUTE_UPLOAD_START);
    assert_string_equal(route.name, "x/blobs");
    route = parse_ok("/v2/manifests/manifests/latest");
    assert_int_equal(route.kind, ROUTE_MANIFEST);
    assert_string_equal(route.name, "manifests");
    route = parse_ok("/v2/tags/tags/list");
    assert_string_equal(route.name, "tags");
}

static void test_rejections(void **state)
{
    (void)state;
    assert_int_equal(parse_error("/v1/"), -REGISTRY_ERROR_NOT_FOUND);
    assert_int_equal(parse_error("/v2x"), -REGISTRY_ERROR_NOT_FOUND);
    assert_int_equal(parse_error("/v2/a/unknown/x"), -REGISTRY_ERROR_NOT_FOUND);
    assert_int_equal(parse_error("/v2/a/manifests/"), -REGISTRY_ERROR_NOT_FOUND);
    assert_int_equal(parse_error("/v2/a/blobs/"), -REGISTRY_ERROR_NOT_FOUND);
    assert_int_equal(parse_error("/v2/manifests/x"), -REGISTRY_ERROR_NAME_INVALID);
    assert_int_equal(parse_error("/v2/UPPER/tags/list"), -REGISTRY_ERROR_NAME_INVALID);
    assert_int_equal(parse_error("/v2/a/../b/tags/list"), -REGISTRY_ERROR_NAME_INVALID);
    assert_int_equal(parse_error("/v2/%2e%2e/tags/list"), -REGISTRY_ERROR_NAME_INVALID);
    assert_int_equal(parse_error("/v2/a%2Fb/tags/list"), -REGISTRY_ERROR_NAME_INVALID);
    assert_int_equal(parse_error("/v2//tags/list"), -REGISTRY_ERROR_NAME_INVALID);
    char path[600];
    char name[300];
    memset(name, 'a', 256);
    name[256] = '\0';
    snprintf(path, sizeof path, "/v2/%s/tags/list", name);
    assert_int_equal(parse_error(path), -REGISTRY_ERROR_NAME_INVALID);
    name[255] = '\0';
    snprintf(path, sizeof path, "/v2/%s/tags/list", name);
    assert_int_equal(parse_ok(path).kind, ROUTE_TAGS_LIST);
}

static void test_overlong_reference(void **state)
{
    (void)state;
    char path[700] = "/v2/a/manifests/";
    memset(path + strlen(path), 'x', 400);
    struct route route = parse_ok(path);
    assert_int_equal(route.kind, ROUTE_MANIFEST);
    assert_true(route.reference_too_long);
    assert_false(route.reference_is_digest);
    assert_string_equal(route.reference, "");

    /* 255 bytes still fit; a ':' is seen even in one that does not. */
    char fits[300] = "/v2/a/manifests/";
    memset(fits + strlen(fits), 'y', ROUTE_REFERENCE_MAX - 1);
    route = parse_ok(fits);
    assert_false(route.reference_too_long);
    assert_int_equal(route.reference_length, ROUTE_REFERENCE_MAX - 1);
    path[20] = ':';
    route = parse_ok(path);
    assert_true(route.reference_too_long);
    assert_true(route.reference_is_digest);
    assert_false(parse_ok("/v2/a/manifests/latest").reference_is_digest);
    assert_true(parse_ok("/v2/a/manifests/sha256:x").reference_is_digest);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_keywords_inside_names),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_overlong_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
