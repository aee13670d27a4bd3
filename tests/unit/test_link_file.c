/* Unit tests for layout/link_file.h. */
#include "test_support.h"

#include <errno.h>

#include "layout/link_file.h"

static void test_write_read(void **state)
{
    (void)state;
    char *root = support_root_create();
    char path[PATH_MAX];
    support_path(path, "%s/repositories/a/_layers/sha256/" HEX_A "/link", root);
    struct digest digest = support_digest("sha256:" HEX_A), read;
    assert_int_equal(link_file_exists(path), 0);
    assert_int_equal(link_file_write(path, &digest), 0);
    assert_int_equal(link_file_exists(path), 1);
    size_t length;
    char *data = support_read(path, &length);
    /* Exactly the digest: no newline. */
    assert_int_equal(length, 71);
    assert_string_equal(data, "sha256:" HEX_A);
    free(data);
    assert_int_equal(link_file_read(path, &read), 0);
    assert_true(digest_equal(&read, &digest));

    struct digest big = support_digest("sha512:" HEX512_A);
    assert_int_equal(link_file_write(path, &big), 0);
    assert_int_equal(link_file_read(path, &read), 0);
    assert_string_equal(read.string, "sha512:" HEX512_A);
    support_root_remove(root);
}

static void test_remove(void **state)
{
    (void)state;
    char *root = support_root_create();
    char layers[PATH_MAX], first[PATH_MAX], second[PATH_MAX];
    support_path(layers, "%s/repositories/a/_layers", root);
    support_path(first, "%s/sha256/" HEX_A "/link", layers);
    support_path(second, "%s/sha256/" HEX_B "/link", layers);
    struct digest a = support_digest("sha256:" HEX_A), b = support_digest("sha256:" HEX_B);
    assert_int_equal(link_file_write(first, &a), 0);
    assert_int_equal(link_file_write(second, &b), 0);

    /* The link's digest directory goes; its sibling and their parent stay. */
    assert_int_equal(link_file_remove(first, layers), 0);
    char directory[PATH_MAX];
    support_path(directory, "%s/sha256/" HEX_A, layers);
    assert_int_equal(access(directory, F_OK), -1);
    assert_int_equal(link_file_exists(second), 1);

    /* The last one also takes the emptied sha256/ but never stop_at itself. */
    assert_int_equal(link_file_remove(second, layers), 0);
    support_path(directory, "%s/sha256", layers);
    assert_int_equal(access(directory, F_OK), -1);
    assert_int_equal(access(layers, F_OK), 0);
    support_root_remove(root);
}

static void test_read_rejects(void **state)
{
    (void)state;
    char *root = support_root_create();
    char path[PATH_MAX];
    struct digest digest;
    support_path(path, "%s/link", root);
    assert_int_equal(link_file_read(path, &digest), -ENOENT);
    support_path(path, "%s/file/link", root);
    support_write_string(path, "");
    support_path(path, "%s/file/link/below", root);
    assert_int_equal(link_file_read(path, &digest), -ENOENT);
    assert_int_equal(link_file_exists(path), 0);

    const char *bad[] = {"",
                         "sha256:" HEX_A "\n",
                         "sha256:" HEX_A " ",
                         " sha256:" HEX_A,
                         "sha256:" HEX_A "\0",
                         "sha256:AAAA0000aaaa0000aaaa0000aaaa0000aaaa0000aaaa0000aaaa0000aaaa0000",
                         "garbage",
                         "sha256:" HEX_A "sha256:" HEX_A,
                         "sha512:" HEX512_A "x"};
    support_path(path, "%s/bad/link", root);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t length = strlen(bad[i]);
        if (i == 4)
            length = 72; /* trailing NUL byte */
        support_write(path, bad[i], length);
        if (link_file_read(path, &digest) != -EINVAL)
            fail_msg("link content #%zu should be refused", i);
    }
    /* Much larger than a digest. */
    char large[4096];
    memset(large, 'a', sizeof large);
    support_write(path, large, sizeof large);
    assert_int_equal(link_file_read(path, &digest), -EINVAL);
    /* A directory where the link should be. */
    support_path(path, "%s/dir/link", root);
    support_mkdir(path);
    assert_true(link_file_read(path, &digest) < 0);
    assert_int_equal(link_file_exists(path), 0);
    support_root_remove(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_read),
        cmocka_unit_test(test_read_rejects),
        cmocka_unit_test(test_remove),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
