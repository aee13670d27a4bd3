/* Unit tests for layout/walk.h. */
#include "test_support.h"

#include <errno.h>

#include "layout/walk.h"

#define UPLOAD_1 "0b9c2f6e-7c4d-4b53-9a55-2f1e3f0d8c11"
#define UPLOAD_2 "1b9c2f6e-7c4d-4b53-9a55-2f1e3f0d8c11"

struct fixture {
    char *root;
    struct tree tree;
};

static int setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof *fixture);
    fixture->root = support_root_create();
    assert_int_equal(tree_open(&fixture->tree, fixture->root, 1), 0);
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

/* Creates T/<suffix> as a directory. */
static void make(struct fixture *f, const char *suffix)
{
    char path[PATH_MAX];
    support_path(path, "%s/%s", f->tree.root, suffix);
    support_mkdir(path);
}

static void touch(struct fixture *f, const char *suffix)
{
    char path[PATH_MAX];
    support_path(path, "%s/%s", f->tree.root, suffix);
    support_write_string(path, "x");
}

static void test_string_list(void **state)
{
    (void)state;
    struct string_list list = {0};
    const char *items[] = {"b", "a", "c", "a/b", "A"};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(string_list_append(&list, items[i]), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(string_list_append(&list, "z"), 0);
    string_list_sort(&list);
    assert_int_equal(list.count, 105);
    assert_string_equal(list.items[0], "A");
    assert_string_equal(list.items[1], "a");
    assert_string_equal(list.items[2], "a/b");
    assert_string_equal(list.items[3], "b");
    string_list_clear(&list);
    assert_int_equal(list.count, 0);
    assert_null(list.items);
    string_list_clear(&list);

    struct digest_list digests = {0};
    struct digest digest = support_digest("sha256:" HEX_A);
    for (int i = 0; i < 40; i++)
        assert_int_equal(digest_list_append(&digests, &digest), 0);
    assert_int_equal(digests.count, 40);
    digest_list_clear(&digests);
    assert_null(digests.items);
}

static void test_repositories(void **state)
{
    struct fixture *f = *state;
    struct string_list names = {0};
    assert_int_equal(walk_repositories(&f->tree, &names), 0);
    assert_int_equal(names.count, 0);

    make(f, "repositories/library/alpine/_manifests/tags/latest/current");
    make(f, "repositories/library/alpine/_layers/sha256");
    make(f, "repositories/library/alpine/_uploads/" UPLOAD_1);
    make(f, "repositories/a/_manifests");
    make(f, "repositories/a/b/c/_manifests/revisions");
    make(f, "repositories/a/b__c/_manifests");
    make(f, "repositories/x/y/_manifests");
    make(f, "repositories/z");                       /* no _manifests */
    make(f, "repositories/Upper/_manifests");        /* not the grammar */
    make(f, "repositories/bad..name/_manifests");    /* not the grammar */
    make(f, "repositories/a/_uploads/q/_manifests"); /* under an _ directory */
    make(f, "repositories/.cairn-tmp-abcdef/_manifests");
    touch(f, "repositories/file");
    touch(f, "repositories/f/_manifests"); /* _manifests is a file */
    char target[PATH_MAX], link[PATH_MAX];
    support_path(target, "%s/repositories/a", f->tree.root);
    support_path(link, "%s/repositories/loop", f->tree.root);
    assert_int_equal(symlink(target, link), 0); /* never followed */

    assert_int_equal(walk_repositories(&f->tree, &names), 0);
    const char *expected[] = {"a", "a/b/c", "a/b__c", "library/alpine", "x/y"};
    assert_int_equal(names.count, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(names.items[i], expected[i]);
    string_list_clear(&names);

    assert_int_equal(walk_repositories_with_uploads(&f->tree, &names), 0);
    assert_int_equal(names.count, 2);
    assert_string_equal(names.items[0], "a");
    assert_string_equal(names.items[1], "library/alpine");
    string_list_clear(&names);
}

static void test_repositories_deep(void **state)
{
    struct fixture *f = *state;
    /* A 255-character nested name is found; deeper directories are not. */
    char name[400] = "", suffix[PATH_MAX];
    for (int i = 0; i < 127; i++)
        strcat(name, i ? "/a" : "a");
    strcat(name, "/b"); /* 255 characters */
    assert_int_equal(strlen(name), 255);
    support_path(suffix, "repositories/%s/_manifests", name);
    make(f, suffix);
    support_path(suffix, "repositories/%s/c/_manifests", name);
    make(f, suffix);
    struct string_list names = {0};
    assert_int_equal(walk_repositories(&f->tree, &names), 0);
    assert_int_equal(names.count, 1);
    assert_string_equal(names.items[0], name);
    string_list_clear(&names);
}

/* Writes T/<suffix> holding `text` (parents created). */
static void write_link(struct fixture *f, const char *suffix, const char *text)
{
    char path[PATH_MAX];
    support_path(path, "%s/%s", f->tree.root, suffix);
    *strrchr(path, '/') = '\0';
    support_mkdir(path);
    strcat(path, "/link");
    support_write_string(path, text);
}

struct read_policy {
    const char *refused[4];
    int asked; /* how many repositories the search asked about */
};

static int may_read(const char *name, void *context)
{
    struct read_policy *policy = context;
    policy->asked++;
    for (int i = 0; i < 4 && policy->refused[i] != NULL; i++)
        if (strcmp(policy->refused[i], name) == 0)
            return 0;
    return 1;
}

static int stop_at_first(const char *name, void *context)
{
    (void)name;
    ++*(int *)context;
    return 7;
}

static void test_find_layer_link(void **state)
{
    struct fixture *f = *state;
    struct digest a = support_digest("sha256:" HEX_A), b = support_digest("sha256:" HEX_B),
                  c = support_digest("sha256:" HEX_C);
    char name[REPOSITORY_NAME_MAX + 1] = "stale";
    /* An empty tree: nothing, and the name is cleared. */
    assert_int_equal(walk_find_layer_link(&f->tree, &a, NULL, NULL, name), 0);
    assert_string_equal(name, "");

    write_link(f, "repositories/team/one/_layers/sha256/" HEX_A "/link", "sha256:" HEX_A);
    write_link(f, "repositories/other/_layers/sha256/" HEX_B "/link", "sha256:" HEX_B);
    /* A link naming another digest, and one holding garbage: not links to C. */
    write_link(f, "repositories/other/_layers/sha256/" HEX_C "/link", "sha256:" HEX_A);
    write_link(f, "repositories/garbage/_layers/sha256/" HEX_C "/link", "nonsense");
    make(f, "repositories/nolayers/_manifests");
    /* Whose link cannot be read (a directory): an error when looked into. */
    make(f, "repositories/secret/_layers/sha256/" HEX_C "/link");

    assert_int_equal(walk_layer_link_matches(&f->tree, "team/one", &a), 1);
    assert_int_equal(walk_layer_link_matches(&f->tree, "team/one", &b), 0);
    assert_int_equal(walk_layer_link_matches(&f->tree, "nolayers", &a), 0);
    assert_int_equal(walk_layer_link_matches(&f->tree, "other", &c), 0);
    assert_true(walk_layer_link_matches(&f->tree, "secret", &c) < 0);

    assert_int_equal(walk_find_layer_link(&f->tree, &a, NULL, NULL, name), 1);
    assert_string_equal(name, "team/one");
    struct digest nowhere = support_digest("sha512:" HEX512_A);
    assert_int_equal(walk_find_layer_link(&f->tree, &nowhere, NULL, NULL, name), 0);
    assert_string_equal(name, "");

    /* A refused repository is asked about but never read: its unreadable
     * link makes no error, and its blob is not found. */
    struct read_policy policy = {{"secret"}, 0};
    assert_int_equal(walk_find_layer_link(&f->tree, &c, may_read, &policy, name), 0);
    assert_int_equal(policy.asked, 4); /* team/one, other, garbage, secret: not nolayers */
    policy = (struct read_policy){{"secret"}, 0};
    assert_int_equal(walk_find_layer_link(&f->tree, &b, may_read, &policy, name), 1);
    assert_string_equal(name, "other");
    policy = (struct read_policy){{"secret", "other"}, 0};
    assert_int_equal(walk_find_layer_link(&f->tree, &b, may_read, &policy, name), 0);
    policy = (struct read_policy){{"team/one"}, 0};
    assert_int_equal(walk_find_layer_link(&f->tree, &a, may_read, &policy, name), 0);
    policy = (struct read_policy){{NULL}, 0};
    assert_true(walk_find_layer_link(&f->tree, &c, may_read, &policy, name) < 0);

    /* The visitor stops the walk at its first non-zero value. */
    int visits = 0;
    assert_int_equal(
        walk_repositories_visit(&f->tree, REPOSITORY_MARKER_LAYERS, stop_at_first, &visits), 7);
    assert_int_equal(visits, 1);
}

static void test_tags(void **state)
{
    struct fixture *f = *state;
    struct string_list tags = {0};
    assert_int_equal(walk_tags(&f->tree, "library/alpine", &tags), 0);
    assert_int_equal(tags.count, 0);
    make(f, "repositories/library/alpine/_manifests/tags/v1/current");
    make(f, "repositories/library/alpine/_manifests/tags/latest/current");
    make(f, "repositories/library/alpine/_manifests/tags/V2");
    make(f, "repositories/library/alpine/_manifests/tags/.cairn-tmp-abcdef");
    make(f, "repositories/library/alpine/_manifests/tags/-bad");
    touch(f, "repositories/library/alpine/_manifests/tags/notadir");
    assert_int_equal(walk_tags(&f->tree, "library/alpine", &tags), 0);
    assert_int_equal(tags.count, 3);
    assert_string_equal(tags.items[0], "V2");
    assert_string_equal(tags.items[1], "latest");
    assert_string_equal(tags.items[2], "v1");
    string_list_clear(&tags);
    assert_int_equal(walk_tags(&f->tree, "../x", &tags), -EINVAL);
}

static void test_revisions_and_layers(void **state)
{
    struct fixture *f = *state;
    struct digest_list digests = {0};
    assert_int_equal(walk_revisions(&f->tree, "a", &digests), 0);
    assert_int_equal(digests.count, 0);
    const char *base[] = {"repositories/a/_manifests/revisions", "repositories/a/_layers"};
    for (int kind = 0; kind < 2; kind++) {
        char suffix[PATH_MAX];
        const char *entries[] = {"/sha256/" HEX_B,           "/sha256/" HEX_A, "/sha512/" HEX512_A,
                                 "/sha256/" HEX_A "0",       "/sha256/AAAA",   "/md5/" HEX_C,
                                 "/sha256/.cairn-tmp-abcdef"};
        for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
            support_path(suffix, "%s%s", base[kind], entries[i]);
            make(f, suffix);
        }
        support_path(suffix, "%s/sha256/" HEX_C, base[kind]);
        touch(f, suffix); /* a file, not a directory */
        int result = kind == 0 ? walk_revisions(&f->tree, "a", &digests)
                               : walk_layers(&f->tree, "a", &digests);
        assert_int_equal(result, 0);
        assert_int_equal(digests.count, 3);
        assert_string_equal(digests.items[0].string, "sha256:" HEX_A);
        assert_string_equal(digests.items[1].string, "sha256:" HEX_B);
        assert_string_equal(digests.items[2].string, "sha512:" HEX512_A);
        digest_list_clear(&digests);
    }
}

static void test_referrers(void **state)
{
    struct fixture *f = *state;
    struct digest subject = support_digest("sha256:" HEX_A),
                  other = support_digest("sha256:" HEX_C);
    struct digest_list digests = {0};
    make(f, "repositories/a/_manifests/referrers/sha256/" HEX_A "/sha256/" HEX_C);
    make(f, "repositories/a/_manifests/referrers/sha256/" HEX_A "/sha256/" HEX_B);
    make(f, "repositories/a/_manifests/referrers/sha256/" HEX_A "/sha256/nothex");
    make(f, "repositories/a/_manifests/referrers/sha256/" HEX_C "/sha256/" HEX_A);
    assert_int_equal(walk_referrers(&f->tree, "a", &subject, &digests), 0);
    assert_int_equal(digests.count, 2);
    assert_string_equal(digests.items[0].string, "sha256:" HEX_B);
    assert_string_equal(digests.items[1].string, "sha256:" HEX_C);
    digest_list_clear(&digests);
    assert_int_equal(walk_referrers(&f->tree, "a", &other, &digests), 0);
    assert_int_equal(digests.count, 1);
    digest_list_clear(&digests);
    assert_int_equal(walk_referrers(&f->tree, "missing", &other, &digests), 0);
    assert_int_equal(digests.count, 0);
}

static void test_referrer_subjects_and_tag_index(void **state)
{
    struct fixture *f = *state;
    struct digest_list digests = {0};
    make(f, "repositories/a/_manifests/referrers/sha256/" HEX_C "/sha256/" HEX_A);
    make(f, "repositories/a/_manifests/referrers/sha256/" HEX_A "/sha256/" HEX_B);
    make(f, "repositories/a/_manifests/referrers/sha256/nothex");
    touch(f, "repositories/a/_manifests/referrers/sha256/.cairn-tmp-abcdef");
    assert_int_equal(walk_referrer_subjects(&f->tree, "a", &digests), 0);
    assert_int_equal(digests.count, 2);
    assert_string_equal(digests.items[0].string, "sha256:" HEX_A);
    assert_string_equal(digests.items[1].string, "sha256:" HEX_C);
    digest_list_clear(&digests);

    make(f, "repositories/a/_manifests/tags/v1/index/sha256/" HEX_B);
    make(f, "repositories/a/_manifests/tags/v1/index/sha256/" HEX_A);
    make(f, "repositories/a/_manifests/tags/v1/index/md5/" HEX_C);
    assert_int_equal(walk_tag_index(&f->tree, "a", "v1", &digests), 0);
    assert_int_equal(digests.count, 2);
    assert_string_equal(digests.items[0].string, "sha256:" HEX_A);
    assert_string_equal(digests.items[1].string, "sha256:" HEX_B);
    digest_list_clear(&digests);
    assert_int_equal(walk_tag_index(&f->tree, "a", "v2", &digests), 0);
    assert_int_equal(digests.count, 0);
    assert_int_equal(walk_referrer_subjects(&f->tree, "missing", &digests), 0);
    assert_int_equal(digests.count, 0);
    assert_int_equal(walk_tag_index(&f->tree, "a", "bad/tag", &digests), -EINVAL);
}

static void test_uploads(void **state)
{
    struct fixture *f = *state;
    struct string_list uploads = {0};
    make(f, "repositories/a/_uploads/" UPLOAD_2);
    make(f, "repositories/a/_uploads/" UPLOAD_1);
    make(f, "repositories/a/_uploads/not-an-id");
    make(f, "repositories/a/_uploads/0B9C2F6E-7C4D-4B53-9A55-2F1E3F0D8C11");
    assert_int_equal(walk_uploads(&f->tree, "a", &uploads), 0);
    assert_int_equal(uploads.count, 2);
    assert_string_equal(uploads.items[0], UPLOAD_1);
    assert_string_equal(uploads.items[1], UPLOAD_2);
    string_list_clear(&uploads);
}

struct visits {
    struct string_list seen;
    int stop_after;
};

static int visit(const struct digest *digest, void *context)
{
    struct visits *visits = context;
    assert_int_equal(string_list_append(&visits->seen, digest->string), 0);
    return (int)visits->seen.count == visits->stop_after ? 42 : 0;
}

static void test_blobs(void **state)
{
    struct fixture *f = *state;
    struct visits visits = {{0}, 0};
    assert_int_equal(walk_blobs(&f->tree, visit, &visits), 0);
    assert_int_equal(visits.seen.count, 0);
    make(f, "blobs/sha256/aa/" HEX_A);
    touch(f, "blobs/sha256/aa/" HEX_A "/data");
    make(f, "blobs/sha256/bb/" HEX_B);
    make(f, "blobs/sha256/cc/" HEX_A); /* wrong fan-out */
    make(f, "blobs/sha256/c/" HEX_C);  /* wrong fan-out */
    make(f, "blobs/sha256/cc/nothex");
    make(f, "blobs/sha512/aa/" HEX512_A);
    make(f, "blobs/md5/aa/" HEX_A);
    touch(f, "blobs/sha256/cc/.cairn-tmp-abcdef");
    assert_int_equal(walk_blobs(&f->tree, visit, &visits), 0);
    string_list_sort(&visits.seen);
    assert_int_equal(visits.seen.count, 3);
    assert_string_equal(visits.seen.items[0], "sha256:" HEX_A);
    assert_string_equal(visits.seen.items[1], "sha256:" HEX_B);
    assert_string_equal(visits.seen.items[2], "sha512:" HEX512_A);
    string_list_clear(&visits.seen);

    visits.stop_after = 2;
    assert_int_equal(walk_blobs(&f->tree, visit, &visits), 42);
    assert_int_equal(visits.seen.count, 2);
    string_list_clear(&visits.seen);
}

static void test_repositories_with_layers_and_uploads(void **state)
{
    struct fixture *f = *state;
    make(f, "repositories/only/uploads/_uploads/" UPLOAD_1);
    make(f, "repositories/only/layers/_layers/sha256");
    make(f, "repositories/both/_layers");
    make(f, "repositories/both/_uploads");
    make(f, "repositories/both/_manifests");
    struct string_list layers = {0}, uploads = {0};
    assert_int_equal(walk_repositories_with_layers(&f->tree, &layers), 0);
    assert_int_equal(walk_repositories_with_uploads(&f->tree, &uploads), 0);
    assert_int_equal(layers.count, 2);
    assert_string_equal(layers.items[0], "both");
    assert_string_equal(layers.items[1], "only/layers");
    assert_int_equal(uploads.count, 2);
    assert_string_equal(uploads.items[0], "both");
    assert_string_equal(uploads.items[1], "only/uploads");
    string_list_clear(&layers);
    string_list_clear(&uploads);
}

static void test_directory_entries(void **state)
{
    struct fixture *f = *state;
    char path[PATH_MAX], missing[PATH_MAX];
    support_path(path, "%s/repositories/d", f->tree.root);
    support_path(missing, "%s/repositories/missing", f->tree.root);
    make(f, "repositories/d");
    assert_int_equal(walk_directory_is_empty(path), 1);
    assert_int_equal(walk_directory_is_empty(missing), 0);
    make(f, "repositories/d/sub");
    touch(f, "repositories/d/file");
    char target[PATH_MAX], link[PATH_MAX];
    support_path(target, "%s/repositories/d/sub", f->tree.root);
    support_path(link, "%s/repositories/d/link", f->tree.root);
    assert_int_equal(symlink(target, link), 0); /* listed as a file: never followed */
    assert_int_equal(walk_directory_is_empty(path), 0);

    struct string_list directories = {0}, files = {0};
    assert_int_equal(walk_directory_entries(path, &directories, &files), 0);
    string_list_sort(&files);
    assert_int_equal(directories.count, 1);
    assert_string_equal(directories.items[0], "sub");
    assert_int_equal(files.count, 2);
    assert_string_equal(files.items[0], "file");
    assert_string_equal(files.items[1], "link");
    string_list_clear(&files);
    assert_int_equal(walk_directory_entries(path, NULL, &files), 0);
    assert_int_equal(files.count, 2);
    string_list_clear(&directories);
    string_list_clear(&files);
    assert_int_equal(walk_directory_entries(missing, &directories, &files), 0);
    assert_int_equal(directories.count + files.count, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string_list),
        cmocka_unit_test_setup_teardown(test_repositories, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repositories_deep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_layer_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revisions_and_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_referrers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_referrer_subjects_and_tag_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uploads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repositories_with_layers_and_uploads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_entries, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
