/*
 * src/registry/listing.h — what the registry lists: the catalog of
 * repositories and a repository's tags, sorted, one page at a time.
 *
 * The lists are those of layout/walk.h (sorted by strcmp); a page is the
 * Distribution API's: the entries after `last` (exclusive; NULL from the
 * start), at most `size` of them. Who may see which repository is the
 * caller's rule, handed in as a predicate: this module knows no users. The
 * HTTP shape of a page ({"repositories": [...]}, the Link header) is
 * src/http's; the web view, retention and the tools call these directly.
 *
 *     struct string_list names = {0};
 *     if (listing_catalog(&tree, may_pull, context, &names) == 0) {
 *         struct listing_page page;
 *         listing_page_select(&names, last, size, &page);
 *         for (size_t i = page.first; i < page.end; i++) ... names.items[i] ...
 *         if (page.has_next) ... next page after names.items[page.end - 1] ...
 *     }
 *     string_list_clear(&names);
 */
#ifndef CAIRN_SRC_REGISTRY_LISTING_H
#define CAIRN_SRC_REGISTRY_LISTING_H

#include <stddef.h>
#include "layout/tree.h"
#include "layout/walk.h"

/* The page size when the caller gives none: everything. */
#define LISTING_PAGE_SIZE_DEFAULT 1000000

/* Whether the caller may see the repository `name` (1) or not (0). */
typedef int (*listing_filter)(const char *name, void *context);

/* Every repository `may_see` allows (NULL: every repository), sorted. */
int listing_catalog(const struct tree *tree, listing_filter may_see, void *context,
                    struct string_list *out);

/* The tags of <name>, sorted; -REGISTRY_ERROR_NAME_UNKNOWN when <name> is
 * not a repository. */
int listing_tags(const struct tree *tree, const char *name, struct string_list *out);

/* A page size as the `n` parameter writes it: decimal digits, >= 0.
 * -REGISTRY_ERROR_PAGINATION_INVALID otherwise. */
int listing_page_size_parse(const char *text, long *size_out);

/* One page of a sorted list: list->items[first .. end). `has_next` when
 * entries remain after a non-empty page. */
struct listing_page {
    size_t first;
    size_t end;
    int has_next;
};
void listing_page_select(const struct string_list *list, const char *last, long size,
                         struct listing_page *page);

#endif
