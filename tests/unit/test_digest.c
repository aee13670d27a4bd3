/* Unit tests for layout/digest.h. */
#include "test_support.h"

#include <errno.h>

#include "layout/error.h"

#define SHA512_EMPTY                                                                               \
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2"     \
    "877eec2f63b931bd47417a81a538327af927da3e"
#define SHA256_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA256_AB "fb8e20fc2e4c3f248c60c39bd652f3c1347298bb977b8b4d5903b85055620603"

static int parse(const char *text)
{
    struct digest digest;
    return digest_parse(text, strlen(text), &digest);
}

static void test_parse_valid(void **state)
{
    (void)state;
    struct digest digest;
    const char *text = "sha256:" HEX_EMPTY;
    assert_int_equal(digest_parse(text, strlen(text), &digest), 0);
    assert_int_equal(digest.algorithm, DIGEST_SHA256);
    assert_string_equal(digest.string, text);
    assert_int_equal(digest.string_length, 71);
    assert_string_equal(digest_hex(&digest), HEX_EMPTY);

    text = "sha512:" SHA512_EMPTY;
    assert_int_equal(digest_parse(text, strlen(text), &digest), 0);
    assert_int_equal(digest.algorithm, DIGEST_SHA512);
    assert_int_equal(digest.string_length, 135);
    assert_string_equal(digest_hex(&digest), SHA512_EMPTY);
    assert_string_equal(digest_algorithm_name(digest.algorithm), "sha512");
    assert_string_equal(digest_algorithm_name(DIGEST_SHA256), "sha256");
}

static void test_parse_not_terminated(void **state)
{
    (void)state;
    /* Only `length` bytes count: a slice of a longer string. */
    const char *text = "sha256:" HEX_A "/more";
    struct digest digest;
    assert_int_equal(digest_parse(text, 71, &digest), 0);
    assert_string_equal(digest.string, "sha256:" HEX_A);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    assert_int_equal(parse(""), -EINVAL);
    assert_int_equal(parse("sha256"), -EINVAL);
    assert_int_equal(parse("sha256:"), -EINVAL);
    assert_int_equal(parse(HEX_A), -EINVAL);
    assert_int_equal(
        parse("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"), -EINVAL);
    assert_int_equal(
        parse("sha256:E3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), -EINVAL);
    assert_int_equal(parse("SHA256:" HEX_EMPTY), -EINVAL);
    assert_int_equal(parse("sha256:" HEX_EMPTY "0"), -EINVAL);
    assert_int_equal(
        parse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85"), -EINVAL);
    assert_int_equal(parse("md5:d41d8cd98f00b204e9800998ecf8427e"), -EINVAL);
    assert_int_equal(parse("sha384:" HEX_A), -EINVAL);
    assert_int_equal(parse("sha512:" HEX_EMPTY), -EINVAL);
    assert_int_equal(parse("sha256:" SHA512_EMPTY), -EINVAL);
    assert_int_equal(parse(" sha256:" HEX_EMPTY), -EINVAL);
    assert_int_equal(parse("sha256:" HEX_EMPTY "\n"), -EINVAL);
    assert_int_equal(
        parse("sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), -EINVAL);
    assert_int_equal(parse("tarsum.v1+sha256:" HEX_EMPTY), -EINVAL);
    assert_true(strlen(error_message()) > 0);

    /* A NUL in the middle is not a hex digit. */
    char text[] = "sha256:" HEX_EMPTY;
    text[20] = '\0';
    struct digest digest;
    assert_int_equal(digest_parse(text, sizeof text - 1, &digest), -EINVAL);
    text[20] = 'a';
    text[3] = '\0';
    assert_int_equal(digest_parse(text, sizeof text - 1, &digest), -EINVAL);
}

static void test_algorithm_parse(void **state)
{
    (void)state;
    enum digest_algorithm algorithm;
    assert_int_equal(digest_algorithm_parse("sha512", 6, &algorithm), 0);
    assert_int_equal(algorithm, DIGEST_SHA512);
    assert_int_equal(digest_algorithm_parse("sha256", 6, &algorithm), 0);
    assert_int_equal(algorithm, DIGEST_SHA256);
    assert_int_equal(digest_algorithm_parse("sha2566", 6, &algorithm), 0);
    assert_int_equal(digest_algorithm_parse("sha2566", 7, &algorithm), -EINVAL);
    assert_int_equal(digest_algorithm_parse("sha25", 5, &algorithm), -EINVAL);
    assert_int_equal(digest_algorithm_parse("", 0, &algorithm), -EINVAL);
}

static void test_equal(void **state)
{
    (void)state;
    struct digest a = support_digest("sha256:" HEX_A), a2 = support_digest("sha256:" HEX_A),
                  b = support_digest("sha256:" HEX_B);
    assert_true(digest_equal(&a, &a2));
    assert_false(digest_equal(&a, &b));
}

static void test_of_buffer(void **state)
{
    (void)state;
    struct digest digest;
    assert_int_equal(digest_of_buffer(DIGEST_SHA256, "", 0, &digest), 0);
    assert_string_equal(digest.string, "sha256:" HEX_EMPTY);
    assert_int_equal(digest_of_buffer(DIGEST_SHA512, "", 0, &digest), 0);
    assert_string_equal(digest.string, "sha512:" SHA512_EMPTY);
    assert_int_equal(digest.string_length, 135);
    assert_int_equal(digest_of_buffer(DIGEST_SHA256, "abc", 3, &digest), 0);
    assert_string_equal(digest.string, "sha256:" SHA256_ABC);
    /* The result is a valid digest. */
    struct digest parsed;
    assert_int_equal(digest_parse(digest.string, digest.string_length, &parsed), 0);
}

static void test_hasher_stream_and_copy(void **state)
{
    (void)state;
    struct digest_hasher hasher, copy;
    struct digest digest;
    assert_int_equal(digest_hasher_init(&hasher, DIGEST_SHA256), 0);
    assert_int_equal(digest_hasher_update(&hasher, "a", 1), 0);
    assert_int_equal(digest_hasher_update(&hasher, "b", 1), 0);
    assert_int_equal(digest_hasher_copy(&copy, &hasher), 0);
    assert_int_equal(digest_hasher_update(&copy, "c", 1), 0);
    assert_int_equal(digest_hasher_finish(&copy, &digest), 0);
    assert_string_equal(digest.string, "sha256:" SHA256_ABC);
    assert_null(copy.context);
    assert_int_equal(digest_hasher_finish(&hasher, &digest), 0);
    assert_string_equal(digest.string, "sha256:" SHA256_AB);

    /* Releasing an unfinished or zeroed hasher is safe. */
    assert_int_equal(digest_hasher_init(&hasher, DIGEST_SHA512), 0);
    digest_hasher_release(&hasher);
    digest_hasher_release(&hasher);
    struct digest_hasher zero = {0};
    digest_hasher_release(&zero);
}

static void test_hasher_from_file(void **state)
{
    (void)state;
    char *root = support_root_create();
    char path[PATH_MAX];
    support_path(path, "%s/file", root);
    support_write_string(path, "abc");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    /* The file offset does not matter: the hasher reads with pread. */
    assert_int_equal(lseek(fd, 2, SEEK_SET), 2);

    struct digest_hasher hasher;
    struct digest digest;
    assert_int_equal(digest_hasher_init(&hasher, DIGEST_SHA256), 0);
    assert_int_equal(digest_hasher_update_from_file(&hasher, fd, 3), 0);
    assert_int_equal(digest_hasher_finish(&hasher, &digest), 0);
    assert_string_equal(digest.string, "sha256:" SHA256_ABC);

    assert_int_equal(digest_hasher_init(&hasher, DIGEST_SHA256), 0);
    assert_int_equal(digest_hasher_update_from_file(&hasher, fd, 2), 0);
    assert_int_equal(digest_hasher_finish(&hasher, &digest), 0);
    assert_string_equal(digest.string, "sha256:" SHA256_AB);

    assert_int_equal(digest_hasher_init(&hasher, DIGEST_SHA256), 0);
    assert_int_equal(digest_hasher_update_from_file(&hasher, fd, 4), -EIO);
    digest_hasher_release(&hasher);
    close(fd);
    support_root_remove(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_not_terminated),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_algorithm_parse),
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_of_buffer),
        cmocka_unit_test(test_hasher_stream_and_copy),
        cmocka_unit_test(test_hasher_from_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
