/* Unit tests for src/registry/link_cache.h (and layout/link_file.h's stamps):
 * whatever happens to a link between two reads, the second read answers what
 * the link holds then. */
#include "test_support.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "layout/link_file.h"
#include "src/registry/link_cache.h"

/* Links changed less than LINK_CACHE_SETTLE_SECONDS ago are not kept. */
static void settle(void)
{
    usleep(LINK_CACHE_SETTLE_SECONDS * 1000000 + 100000);
}

enum { FROM_LINK = 0, FROM_CACHE = 1 };

/* Reads `path` as a caller that keeps what it reads would. */
static void expect_link(const char *path, const char *digest, int source)
{
    struct digest read;
    struct link_stamp stamp;
    assert_int_equal(link_cache_read(path, &read, &stamp), source);
    assert_string_equal(read.string, digest);
    if (source == FROM_LINK)
        link_cache_keep(path, &stamp, &read);
}

static void test_stamps(void **state)
{
    (void)state;
    char *root = support_root_create();
    char path[PATH_MAX];
    support_path(path, "%s/tags/t/current/link", root);
    struct digest a = support_digest("sha256:" HEX_A), b = support_digest("sha256:" HEX_B), read;
    struct link_stamp stamp, now;
    assert_int_equal(link_file_stamp(path, &now), -ENOENT);
    assert_int_equal(link_file_write(path, &a), 0);
    assert_int_equal(link_file_read_stamped(path, &read, &stamp), 0);
    assert_true(digest_equal(&read, &a));
    assert_int_equal(link_file_stamp(path, &now), 0);
    assert_true(link_stamp_equal(&stamp, &now));
    /* A replacement of the same size is another version. */
    assert_int_equal(link_file_write(path, &b), 0);
    assert_int_equal(link_file_stamp(path, &now), 0);
    assert_false(link_stamp_equal(&stamp, &now));
    /* A directory where a link should be is no link. */
    support_path(path, "%s/tags/u/current/link", root);
    support_mkdir(path);
    assert_int_equal(link_file_stamp(path, &now), -ENOENT);
    support_root_remove(root);
}

static void test_every_change_seen_by_the_next_read(void **state)
{
    (void)state;
    char *root = support_root_create();
    char path[PATH_MAX], directory[PATH_MAX];
    support_path(directory, "%s/tags/t", root);
    support_path(path, "%s/current/link", directory);
    struct digest a = support_digest("sha256:" HEX_A), b = support_digest("sha256:" HEX_B), read;

    struct link_stamp stamp;
    assert_int_equal(link_cache_read(path, &read, &stamp), -ENOENT);
    assert_int_equal(link_file_write(path, &a), 0);
    expect_link(path, "sha256:" HEX_A, FROM_LINK); /* just changed: not kept */
    expect_link(path, "sha256:" HEX_A, FROM_LINK);
    settle();
    expect_link(path, "sha256:" HEX_A, FROM_LINK); /* read and kept */
    expect_link(path, "sha256:" HEX_A, FROM_CACHE);
    /* Trusted for a while only: then the caller checks again, and keeps. */
    usleep(LINK_CACHE_TRUST_MILLISECONDS * 1000 + 100000);
    expect_link(path, "sha256:" HEX_A, FROM_LINK);
    expect_link(path, "sha256:" HEX_A, FROM_CACHE);

    /* Moved by another writer (a rename of a new file, as every writer of
     * the tree does). */
    assert_int_equal(link_file_write(path, &b), 0);
    expect_link(path, "sha256:" HEX_B, FROM_LINK);
    expect_link(path, "sha256:" HEX_B, FROM_LINK);

    /* Written in place by something that is not cairn: seen too. */
    settle();
    expect_link(path, "sha256:" HEX_B, FROM_LINK);
    expect_link(path, "sha256:" HEX_B, FROM_CACHE);
    support_write_string(path, "sha256:" HEX_C);
    expect_link(path, "sha256:" HEX_C, FROM_LINK);

    /* Spoiled: refused, not answered from the cache; mended: read again. */
    support_write_string(path, "sha256:nothex");
    assert_int_equal(link_cache_read(path, &read, &stamp), -EINVAL);
    assert_int_equal(link_file_write(path, &a), 0);
    expect_link(path, "sha256:" HEX_A, FROM_LINK);

    /* Deleted, with its directories: gone at once; back: the new one. */
    settle();
    expect_link(path, "sha256:" HEX_A, FROM_LINK);
    expect_link(path, "sha256:" HEX_A, FROM_CACHE);
    assert_int_equal(link_file_remove(path, root), 0);
    assert_int_equal(support_exists(directory), 0);
    assert_int_equal(link_cache_read(path, &read, &stamp), -ENOENT);
    assert_int_equal(link_cache_read(path, &read, &stamp), -ENOENT);
    assert_int_equal(link_file_write(path, &b), 0);
    expect_link(path, "sha256:" HEX_B, FROM_LINK);
    support_root_remove(root);
}

/* More links than slots: collisions evict, never mix two paths up. */
static void test_many_links(void **state)
{
    (void)state;
    char *root = support_root_create();
    enum { LINKS = LINK_CACHE_SLOTS * 3 };
    struct digest a = support_digest("sha256:" HEX_A), b = support_digest("sha256:" HEX_B);
    char path[PATH_MAX];
    for (int i = 0; i < LINKS; i++) {
        support_path(path, "%s/tags/t%d/current/link", root, i);
        assert_int_equal(link_file_write(path, i % 2 ? &a : &b), 0);
    }
    settle();
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < LINKS; i++) {
            support_path(path, "%s/tags/t%d/current/link", root, i);
            struct digest read;
            struct link_stamp stamp;
            int result = link_cache_read(path, &read, &stamp);
            assert_in_range(result, 0, 1); /* collisions evict */
            assert_string_equal(read.string, i % 2 ? "sha256:" HEX_A : "sha256:" HEX_B);
            if (result == 0)
                link_cache_keep(path, &stamp, &read);
        }
    support_root_remove(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stamps),
        cmocka_unit_test(test_every_change_seen_by_the_next_read),
        cmocka_unit_test(test_many_links),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
