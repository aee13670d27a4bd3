/* Unit tests for layout/names.h. */
#include "test_support.h"

#include <errno.h>

#include "layout/names.h"

static int name(const char *text)
{
    return repository_name_validate(text, strlen(text));
}

static int tag(const char *text)
{
    return tag_validate(text, strlen(text));
}

static int upload_id(const char *text)
{
    return upload_id_validate(text, strlen(text));
}

static void test_repository_valid(void **state)
{
    (void)state;
    const char *valid[] = {"a",
                           "0",
                           "library/alpine",
                           "a/b/c/d",
                           "a.b",
                           "a_b",
                           "a__b",
                           "a-b",
                           "a--b",
                           "a---b",
                           "a1-2",
                           "foo.bar_baz",
                           "a/b.c",
                           "my-org/x",
                           "0/0",
                           "ab.cd/e__f/g--h"};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        if (name(valid[i]) != 0)
            fail_msg("\"%s\" should be valid", valid[i]);
    }
}

static void test_repository_invalid(void **state)
{
    (void)state;
    const char *invalid[] = {
        "",       "..",   ".",    "a/..",         "../a", "%2e",  "%2e%2e", "a%2eb", "A",
        "Alpine", "a/B",  "/a",   "a/",           "/",    "a//b", "a___b",  "a.-b",  "a-.b",
        "a..b",   "a._b", "_a",   "a_",           "-a",   "a-",   ".a",     "a.",    "a b",
        "a:b",    "a@b",  "a\\b", "a/_manifests", "a/-b", "é"};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        if (name(invalid[i]) != -EINVAL)
            fail_msg("\"%s\" should be invalid", invalid[i]);
    }
    /* NUL in the middle. */
    assert_int_equal(repository_name_validate("a\0b", 3), -EINVAL);
    assert_int_equal(repository_name_validate(NULL, 0), -EINVAL);
    /* Only `length` bytes are read. */
    assert_int_equal(repository_name_validate("ab/", 2), 0);
}

static void test_repository_length(void **state)
{
    (void)state;
    char text[300];
    memset(text, 'a', 255);
    text[255] = '\0';
    assert_int_equal(name(text), 0);
    text[255] = 'a';
    text[256] = '\0';
    assert_int_equal(name(text), -EINVAL);
    /* 255 with slashes counted. */
    for (size_t i = 1; i < 255; i += 2)
        text[i] = '/';
    text[255] = '\0';
    assert_int_equal(name(text), 0);
    text[255] = 'a';
    text[256] = '\0';
    assert_int_equal(name(text), -EINVAL);
}

static void test_tag(void **state)
{
    (void)state;
    const char *valid[] = {"latest", "v1", "v1.0.0", "_x", "A", "A-b_c.d", "3.19", "x--y..z"};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        if (tag(valid[i]) != 0)
            fail_msg("tag \"%s\" should be valid", valid[i]);
    }
    const char *invalid[] = {"", ".x", "-x", "a/b", "a:b", "a b", "a+b", "..", "a@b", "é"};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        if (tag(invalid[i]) != -EINVAL)
            fail_msg("tag \"%s\" should be invalid", invalid[i]);
    }
    assert_int_equal(tag_validate("a\0b", 3), -EINVAL);
    char text[200];
    memset(text, 'x', sizeof text);
    assert_int_equal(tag_validate(text, 128), 0);
    assert_int_equal(tag_validate(text, 129), -EINVAL);
}

static void test_upload_id(void **state)
{
    (void)state;
    assert_int_equal(upload_id("0b9c2f6e-7c4d-4b53-9a55-2f1e3f0d8c11"), 0);
    assert_int_equal(upload_id("00000000-0000-0000-0000-000000000000"), 0);
    assert_int_equal(upload_id("0B9C2F6E-7C4D-4B53-9A55-2F1E3F0D8C11"), -EINVAL);
    assert_int_equal(upload_id("0b9c2f6e7c4d-4b53-9a55-2f1e3f0d8c11-"), -EINVAL);
    assert_int_equal(upload_id("0b9c2f6e-7c4d-4b53-9a55-2f1e3f0d8c1"), -EINVAL);
    assert_int_equal(upload_id("0b9c2f6e-7c4d-4b53-9a55-2f1e3f0d8c111"), -EINVAL);
    assert_int_equal(upload_id("0b9c2f6g-7c4d-4b53-9a55-2f1e3f0d8c11"), -EINVAL);
    assert_int_equal(upload_id("../../../../../../../../../../etc/pa"), -EINVAL);
    assert_int_equal(upload_id(""), -EINVAL);
    assert_int_equal(upload_id_validate("0b9c2f6e-7c4d-4b53-9a55-2f1e3f0d8c1\0", 36), -EINVAL);
}

static void test_upload_id_generate(void **state)
{
    (void)state;
    char a[UPLOAD_ID_LENGTH + 1], b[UPLOAD_ID_LENGTH + 1];
    assert_int_equal(upload_id_generate(a), 0);
    assert_int_equal(upload_id_generate(b), 0);
    assert_int_equal(strlen(a), UPLOAD_ID_LENGTH);
    assert_int_equal(upload_id(a), 0);
    assert_int_equal(upload_id(b), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '4');
    assert_non_null(strchr("89ab", a[19]));
}

static void test_reference_kind(void **state)
{
    (void)state;
    assert_int_equal(reference_kind("latest", 6), REFERENCE_TAG);
    assert_int_equal(reference_kind(".INVALID", 8), REFERENCE_TAG); /* a bad tag */
    assert_int_equal(reference_kind("sha256:" HEX_A, 71), REFERENCE_DIGEST);
    assert_int_equal(reference_kind("sha256:nothex", 13), REFERENCE_DIGEST); /* a bad digest */
    assert_int_equal(reference_kind(":", 1), REFERENCE_DIGEST);
    assert_int_equal(reference_kind("v1:x", 2), REFERENCE_TAG); /* the length counts */
    assert_int_equal(reference_kind("", 0), REFERENCE_TAG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repository_valid),  cmocka_unit_test(test_repository_invalid),
        cmocka_unit_test(test_repository_length), cmocka_unit_test(test_tag),
        cmocka_unit_test(test_upload_id),         cmocka_unit_test(test_upload_id_generate),
        cmocka_unit_test(test_reference_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
