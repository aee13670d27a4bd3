/* src/registry/listing.h */
#include "src/registry/listing.h"

#include <stdlib.h>
#include <string.h>

#include "layout/error.h"
#include "src/registry/registry_error.h"
#include "src/registry/repository.h"

int listing_catalog(const struct tree *tree, listing_filter may_see, void *context,
                    struct string_list *out)
{
    int result = walk_repositories(tree, out);
    if (result < 0 || may_see == NULL)
        return result;
    /* The walk's order is kept. */
    size_t kept = 0;
    for (size_t i = 0; i < out->count; i++) {
        if (may_see(out->items[i], context))
            out->items[kept++] = out->items[i];
        else
            free(out->items[i]);
    }
    out->count = kept;
    return 0;
}

int listing_tags(const struct tree *tree, const char *name, struct string_list *out)
{
    if (!repository_exists(tree, name))
        return error_set(-REGISTRY_ERROR_NAME_UNKNOWN, "repository name not known to registry");
    return walk_tags_with_current(tree, name, out);
}

int listing_page_size_parse(const char *text, long *size_out)
{
    char *end;
    long size = strtol(text, &end, 10);
    if (*end != '\0' || end == text || size < 0)
        return error_set(-REGISTRY_ERROR_PAGINATION_INVALID, "invalid number of results requested");
    *size_out = size;
    return 0;
}

void listing_page_select(const struct string_list *list, const char *last, long size,
                         struct listing_page *page)
{
    size_t start = 0;
    if (last != NULL)
        while (start < list->count && strcmp(list->items[start], last) <= 0)
            start++;
    size_t end = start;
    while (end < list->count && (long)(end - start) < size)
        end++;
    page->first = start;
    page->end = end;
    page->has_next = end < list->count && end > start;
}
