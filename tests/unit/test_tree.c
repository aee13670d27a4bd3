/* Unit tests for layout/tree.h. */
#include "test_support.h"

#include <errno.h>

#include "layout/names.h"
#include "layout/tree.h"

#define UPLOAD "0b9c2f6e-7c4d-4b53-9a55-2f1e3f0d8c11"

struct fixture {
    char *root;
    struct tree tree;
    char expected[PATH_MAX];
    char path[TREE_PATH_MAX];
};

static int setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof *fixture);
    fixture->root = support_root_create();
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

static void test_open_creates(void **state)
{
    struct fixture *f = *state;
    char with_slash[PATH_MAX];
    support_path(with_slash, "%s//", f->root);
    assert_int_equal(tree_open(&f->tree, with_slash, 1), 0);
    assert_string_equal(f->tree.root_directory, f->root);
    support_path(f->expected, "%s/docker/registry/v2", f->root);
    assert_string_equal(f->tree.root, f->expected);
    assert_int_equal(f->tree.root_length, strlen(f->expected));

    const char *created[] = {"docker/registry/v2/blobs", "docker/registry/v2/repositories",
                             ".cairn-tmp"};
    for (size_t i = 0; i < 3; i++) {
        struct stat status;
        support_path(f->expected, "%s/%s", f->root, created[i]);
        assert_int_equal(stat(f->expected, &status), 0);
        assert_true(S_ISDIR(status.st_mode));
    }
    /* Opening again is fine. */
    assert_int_equal(tree_open(&f->tree, f->root, 1), 0);
}

static void test_open_without_create(void **state)
{
    struct fixture *f = *state;
    char missing[PATH_MAX];
    support_path(missing, "%s/missing", f->root);
    assert_int_equal(tree_open(&f->tree, missing, 0), 0);
    assert_false(support_exists(missing));

    assert_int_equal(tree_open(&f->tree, "/", 0), 0);
    assert_string_equal(f->tree.root_directory, "/");
    assert_string_equal(f->tree.root, "/docker/registry/v2");
    assert_int_equal(tree_path_scratch_directory(&f->tree, f->path), 0);
    assert_string_equal(f->path, "/.cairn-tmp");

    assert_int_equal(tree_open(&f->tree, "relative/dir", 0), 0);
    assert_string_equal(f->tree.root, "relative/dir/docker/registry/v2");
    assert_int_equal(tree_open(&f->tree, "", 0), -EINVAL);
    assert_int_equal(tree_open(&f->tree, NULL, 0), -EINVAL);
}

static void test_open_too_long(void **state)
{
    struct fixture *f = *state;
    char long_root[TREE_PATH_MAX];
    memset(long_root, 'r', sizeof long_root - 1);
    long_root[0] = '/';
    long_root[sizeof long_root - 1] = '\0';
    assert_int_equal(tree_open(&f->tree, long_root, 0), -ENAMETOOLONG);
    /* Room for the longest path is required, not just for T. */
    long_root[TREE_PATH_MAX - 580] = '\0';
    assert_int_equal(tree_open(&f->tree, long_root, 0), -ENAMETOOLONG);
    long_root[TREE_PATH_MAX - 700] = '\0';
    assert_int_equal(tree_open(&f->tree, long_root, 0), 0);

    /* The longest path then fits. */
    char name[REPOSITORY_NAME_MAX + 1];
    memset(name, 'n', REPOSITORY_NAME_MAX);
    name[REPOSITORY_NAME_MAX] = '\0';
    struct digest subject = support_digest("sha512:" HEX512_A),
                  referrer = support_digest("sha512:" HEX512_A);
    assert_int_equal(tree_path_referrer_link(&f->tree, name, &subject, &referrer, f->path), 0);
    assert_int_equal(strlen(f->path) + 1 <= TREE_PATH_MAX, 1);
}

/* Expects `result` == 0 and the path == root + suffix. */
#define EXPECT_PATH(call, suffix)                                                                  \
    do {                                                                                           \
        assert_int_equal((call), 0);                                                               \
        support_path(f->expected, "%s/docker/registry/v2%s", f->root, suffix);                     \
        assert_string_equal(f->path, f->expected);                                                 \
    } while (0)

static void test_paths(void **state)
{
    struct fixture *f = *state;
    struct tree *t = &f->tree;
    char *p = f->path;
    assert_int_equal(tree_open(t, f->root, 0), 0);
    struct digest a = support_digest("sha256:" HEX_A), b = support_digest("sha256:" HEX_B),
                  big = support_digest("sha512:" HEX512_A);

    EXPECT_PATH(tree_path_blobs(t, p), "/blobs");
    EXPECT_PATH(tree_path_blob_directory(t, &a, p), "/blobs/sha256/aa/" HEX_A);
    EXPECT_PATH(tree_path_blob_data(t, &a, p), "/blobs/sha256/aa/" HEX_A "/data");
    EXPECT_PATH(tree_path_blob_data(t, &b, p), "/blobs/sha256/bb/" HEX_B "/data");
    EXPECT_PATH(tree_path_blob_data(t, &big, p), "/blobs/sha512/aa/" HEX512_A "/data");
    EXPECT_PATH(tree_path_repositories(t, p), "/repositories");
    EXPECT_PATH(tree_path_repository(t, "a/b", p), "/repositories/a/b");
    EXPECT_PATH(tree_path_manifests_directory(t, "a/b", p), "/repositories/a/b/_manifests");
    EXPECT_PATH(tree_path_layers_directory(t, "a/b", p), "/repositories/a/b/_layers");
    EXPECT_PATH(tree_path_layer_link(t, "a/b", &a, p),
                "/repositories/a/b/_layers/sha256/" HEX_A "/link");
    EXPECT_PATH(tree_path_revisions_directory(t, "a/b", p),
                "/repositories/a/b/_manifests/revisions");
    EXPECT_PATH(tree_path_revision_directory(t, "a/b", &a, p),
                "/repositories/a/b/_manifests/revisions/sha256/" HEX_A);
    EXPECT_PATH(tree_path_revision_link(t, "a/b", &a, p),
                "/repositories/a/b/_manifests/revisions/sha256/" HEX_A "/link");
    EXPECT_PATH(tree_path_revision_link(t, "a/b", &big, p),
                "/repositories/a/b/_manifests/revisions/sha512/" HEX512_A "/link");
    EXPECT_PATH(tree_path_tags_directory(t, "a/b", p), "/repositories/a/b/_manifests/tags");
    EXPECT_PATH(tree_path_tag_directory(t, "a/b", "v1", p), "/repositories/a/b/_manifests/tags/v1");
    EXPECT_PATH(tree_path_tag_current_link(t, "a/b", "v1", p),
                "/repositories/a/b/_manifests/tags/v1/current/link");
    EXPECT_PATH(tree_path_tag_index_link(t, "a/b", "v1", &a, p),
                "/repositories/a/b/_manifests/tags/v1/index/sha256/" HEX_A "/link");
    EXPECT_PATH(tree_path_referrers_directory(t, "a/b", &a, p),
                "/repositories/a/b/_manifests/referrers/sha256/" HEX_A);
    EXPECT_PATH(tree_path_referrer_link(t, "a/b", &a, &b, p),
                "/repositories/a/b/_manifests/referrers/sha256/" HEX_A "/sha256/" HEX_B "/link");
    EXPECT_PATH(tree_path_uploads_directory(t, "a/b", p), "/repositories/a/b/_uploads");
    EXPECT_PATH(tree_path_upload_directory(t, "a/b", UPLOAD, p),
                "/repositories/a/b/_uploads/" UPLOAD);
    EXPECT_PATH(tree_path_upload_data(t, "a/b", UPLOAD, p),
                "/repositories/a/b/_uploads/" UPLOAD "/data");
    EXPECT_PATH(tree_path_upload_started_at(t, "a/b", UPLOAD, p),
                "/repositories/a/b/_uploads/" UPLOAD "/startedat");

    assert_int_equal(tree_path_scratch_directory(t, p), 0);
    support_path(f->expected, "%s/.cairn-tmp", f->root);
    assert_string_equal(p, f->expected);
}

static void test_paths_validate(void **state)
{
    struct fixture *f = *state;
    struct tree *t = &f->tree;
    char *p = f->path;
    assert_int_equal(tree_open(t, f->root, 0), 0);
    struct digest a = support_digest("sha256:" HEX_A);
    const char *bad_names[] = {NULL, "", "..", "a/../b", "%2e%2e", "A", "a//b", "a/"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        const char *n = bad_names[i];
        assert_int_equal(tree_path_repository(t, n, p), -EINVAL);
        assert_int_equal(tree_path_manifests_directory(t, n, p), -EINVAL);
        assert_int_equal(tree_path_layers_directory(t, n, p), -EINVAL);
        assert_int_equal(tree_path_layer_link(t, n, &a, p), -EINVAL);
        assert_int_equal(tree_path_revisions_directory(t, n, p), -EINVAL);
        assert_int_equal(tree_path_revision_directory(t, n, &a, p), -EINVAL);
        assert_int_equal(tree_path_revision_link(t, n, &a, p), -EINVAL);
        assert_int_equal(tree_path_tags_directory(t, n, p), -EINVAL);
        assert_int_equal(tree_path_tag_directory(t, n, "v1", p), -EINVAL);
        assert_int_equal(tree_path_tag_current_link(t, n, "v1", p), -EINVAL);
        assert_int_equal(tree_path_tag_index_link(t, n, "v1", &a, p), -EINVAL);
        assert_int_equal(tree_path_referrers_directory(t, n, &a, p), -EINVAL);
        assert_int_equal(tree_path_referrer_link(t, n, &a, &a, p), -EINVAL);
        assert_int_equal(tree_path_uploads_directory(t, n, p), -EINVAL);
        assert_int_equal(tree_path_upload_directory(t, n, UPLOAD, p), -EINVAL);
        assert_int_equal(tree_path_upload_data(t, n, UPLOAD, p), -EINVAL);
        assert_int_equal(tree_path_upload_started_at(t, n, UPLOAD, p), -EINVAL);
    }
    const char *bad_tags[] = {NULL, "", "..", ".hidden", "-x", "a/b", "../../x"};
    for (size_t i = 0; i < sizeof bad_tags / sizeof bad_tags[0]; i++) {
        assert_int_equal(tree_path_tag_directory(t, "a", bad_tags[i], p), -EINVAL);
        assert_int_equal(tree_path_tag_current_link(t, "a", bad_tags[i], p), -EINVAL);
        assert_int_equal(tree_path_tag_index_link(t, "a", bad_tags[i], &a, p), -EINVAL);
    }
    const char *bad_ids[] = {NULL, "", "..", "0B9C2F6E-7C4D-4B53-9A55-2F1E3F0D8C11", "x"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        assert_int_equal(tree_path_upload_directory(t, "a", bad_ids[i], p), -EINVAL);
        assert_int_equal(tree_path_upload_data(t, "a", bad_ids[i], p), -EINVAL);
        assert_int_equal(tree_path_upload_started_at(t, "a", bad_ids[i], p), -EINVAL);
    }
}

static void test_started_at_format(void **state)
{
    (void)state;
    char text[40];
    /* Distribution: time.Now().UTC().Format(time.RFC3339), whole seconds. */
    tree_format_started_at(1704164645LL, 123456789L, text);
    assert_string_equal(text, "2024-01-02T03:04:05Z");
    tree_format_started_at(0, 0, text);
    assert_string_equal(text, "1970-01-01T00:00:00Z");
    tree_format_started_at(951782400LL, 0, text);
    assert_string_equal(text, "2000-02-29T00:00:00Z");
}

static long long parse(const char *text)
{
    long long seconds = -12345;
    int result = tree_parse_started_at(text, strlen(text), &seconds);
    return result < 0 ? result : seconds;
}

static void test_started_at_parse(void **state)
{
    (void)state;
    assert_int_equal(parse("2024-01-02T03:04:05Z"), 1704164645LL);
    assert_int_equal(parse("2024-01-02T03:04:05.123456789Z"), 1704164645LL);
    assert_int_equal(parse("2024-01-02T03:04:05.5Z"), 1704164645LL);
    assert_int_equal(parse("2024-01-02T04:04:05+01:00"), 1704164645LL);
    assert_int_equal(parse("2024-01-02T02:34:05-00:30"), 1704164645LL);
    assert_int_equal(parse("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse("2000-02-29T00:00:00Z"), 951782400LL);
    assert_int_equal(parse("1969-12-31T23:59:59Z"), -1);

    const char *invalid[] = {"",
                             "2024-01-02",
                             "2024-01-02T03:04:05",
                             "2024-01-02T03:04:05Z\n",
                             "2024-01-02 03:04:05Z",
                             "2024-13-02T03:04:05Z",
                             "2024-00-02T03:04:05Z",
                             "2024-01-32T03:04:05Z",
                             "2023-02-29T03:04:05Z",
                             "1900-02-29T03:04:05Z",
                             "2024-01-02T24:04:05Z",
                             "2024-01-02T03:60:05Z",
                             "2024-01-02T03:04:60Z",
                             "2024-01-02T03:04:05.Z",
                             "2024-01-02T03:04:05.1234567890Z",
                             "2024-01-02T03:04:05+0100",
                             "2024-1-02T03:04:05Z",
                             "x024-01-02T03:04:05Z"};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        if (parse(invalid[i]) != -EINVAL)
            fail_msg("\"%s\" should be refused", invalid[i]);
    }
    /* Round trip. */
    char text[40];
    tree_format_started_at(4102444799LL, 999999999L, text);
    assert_string_equal(text, "2099-12-31T23:59:59Z");
    assert_int_equal(parse(text), 4102444799LL);
}

static void test_repository_entries_and_children(void **state)
{
    (void)state;
    assert_int_equal(tree_repository_entry_kind("_manifests"), TREE_ENTRY_MANIFESTS);
    assert_int_equal(tree_repository_entry_kind("_layers"), TREE_ENTRY_LAYERS);
    assert_int_equal(tree_repository_entry_kind("_uploads"), TREE_ENTRY_UPLOADS);
    assert_int_equal(tree_repository_entry_kind("_other"), TREE_ENTRY_RESERVED);
    assert_int_equal(tree_repository_entry_kind(".cairn-tmp-abc"), TREE_ENTRY_RESERVED);
    assert_int_equal(tree_repository_entry_kind("alpine"), TREE_ENTRY_NAME_COMPONENT);

    char out[TREE_PATH_MAX];
    assert_int_equal(tree_path_child("/a/b", "c", out), 0);
    assert_string_equal(out, "/a/b/c");
    assert_int_equal(tree_path_child("/a", "b/c", out), -EINVAL);
    assert_int_equal(tree_path_child("/a", "..", out), -EINVAL);
    assert_int_equal(tree_path_child("/a", "", out), -EINVAL);
    char *directory = malloc(TREE_PATH_MAX);
    assert_non_null(directory);
    memset(directory, 'd', TREE_PATH_MAX - 2);
    directory[TREE_PATH_MAX - 2] = '\0';
    assert_int_equal(tree_path_child(directory, "x", out), -ENAMETOOLONG);
    free(directory);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_without_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_too_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paths_validate, setup, teardown),
        cmocka_unit_test(test_started_at_format),
        cmocka_unit_test(test_started_at_parse),
        cmocka_unit_test(test_repository_entries_and_children),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
