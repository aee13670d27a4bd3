/* Unit tests for src/registry/listing.h: the catalog with a caller's
 * filter, tag lists, page sizes and pages. */
#include "gc_test_tree.h"

#include "layout/link_file.h"
#include "src/registry/listing.h"
#include "src/registry/registry_error.h"

static int hide_secret(const char *name, void *context)
{
    (void)context;
    return strncmp(name, "secret", 6) != 0;
}

static void test_catalog_keeps_what_the_filter_allows(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    gc_simple_image(&fixture, "b/app", "one", "v1", NULL);
    gc_simple_image(&fixture, "secret/app", "two", "v1", NULL);
    gc_simple_image(&fixture, "a", "three", "v1", NULL);
    gc_layer(&fixture, "layers-only", "no manifest here");

    struct string_list names = {0};
    assert_int_equal(listing_catalog(&fixture.tree, NULL, NULL, &names), 0);
    assert_int_equal(names.count, 3);
    string_list_clear(&names);
    assert_int_equal(listing_catalog(&fixture.tree, hide_secret, NULL, &names), 0);
    assert_int_equal(names.count, 2);
    assert_string_equal(names.items[0], "a");
    assert_string_equal(names.items[1], "b/app");
    string_list_clear(&names);
    gc_fixture_close(&fixture);
}

static void test_tags(void **state)
{
    (void)state;
    struct gc_fixture fixture;
    gc_fixture_open(&fixture);
    struct gc_object image = gc_simple_image(&fixture, "app", "one", "v2", NULL);
    gc_tag(&fixture, "app", "v1", &image.digest);
    struct string_list tags = {0};
    assert_int_equal(listing_tags(&fixture.tree, "app", &tags), 0);
    assert_int_equal(tags.count, 2);
    assert_string_equal(tags.items[0], "v1");
    assert_string_equal(tags.items[1], "v2");
    string_list_clear(&tags);
    /* A tag directory without its current link (a half-made or
     * half-removed tag of a crashed writer) is not listed. */
    char path[TREE_PATH_MAX];
    assert_int_equal(tree_path_tag_index_link(&fixture.tree, "app", "half", &image.digest, path),
                     0);
    assert_int_equal(link_file_write(path, &image.digest), 0);
    assert_int_equal(listing_tags(&fixture.tree, "app", &tags), 0);
    assert_int_equal(tags.count, 2);
    string_list_clear(&tags);
    assert_int_equal(listing_tags(&fixture.tree, "other", &tags), -REGISTRY_ERROR_NAME_UNKNOWN);
    assert_int_equal(tags.count, 0);
    gc_fixture_close(&fixture);
}

static void test_page_size_parse(void **state)
{
    (void)state;
    long size = -1;
    assert_int_equal(listing_page_size_parse("0", &size), 0);
    assert_int_equal(size, 0);
    assert_int_equal(listing_page_size_parse("25", &size), 0);
    assert_int_equal(size, 25);
    assert_int_equal(listing_page_size_parse("", &size), -REGISTRY_ERROR_PAGINATION_INVALID);
    assert_int_equal(listing_page_size_parse("-1", &size), -REGISTRY_ERROR_PAGINATION_INVALID);
    assert_int_equal(listing_page_size_parse("3x", &size), -REGISTRY_ERROR_PAGINATION_INVALID);
}

static void test_pages(void **state)
{
    (void)state;
    struct string_list list = {0};
    const char *items[] = {"a", "b", "c", "d", "e"};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(string_list_append(&list, items[i]), 0);
    struct listing_page page;

    listing_page_select(&list, NULL, LISTING_PAGE_SIZE_DEFAULT, &page);
    assert_int_equal(page.first, 0);
    assert_int_equal(page.end, 5);
    assert_false(page.has_next);

    listing_page_select(&list, NULL, 2, &page);
    assert_int_equal(page.first, 0);
    assert_int_equal(page.end, 2);
    assert_true(page.has_next);

    listing_page_select(&list, "b", 2, &page); /* after "b", exclusive */
    assert_int_equal(page.first, 2);
    assert_int_equal(page.end, 4);
    assert_true(page.has_next);

    listing_page_select(&list, "bb", 5, &page); /* `last` need not be listed */
    assert_int_equal(page.first, 2);
    assert_int_equal(page.end, 5);
    assert_false(page.has_next);

    listing_page_select(&list, "e", 2, &page);
    assert_int_equal(page.first, page.end);
    assert_false(page.has_next);

    listing_page_select(&list, NULL, 0, &page); /* an empty page has no next */
    assert_int_equal(page.first, page.end);
    assert_false(page.has_next);
    string_list_clear(&list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog_keeps_what_the_filter_allows),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_page_size_parse),
        cmocka_unit_test(test_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
