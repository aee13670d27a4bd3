/* src/registry/manifest_cache.h */
#include "src/registry/manifest_cache.h"

#include <stdlib.h>
#include <string.h>

struct cache_entry {
    struct digest digest;
    const char *media_type;
    size_t length;
    char *body;
};

static _Thread_local struct cache_entry slots[MANIFEST_CACHE_SLOTS];

static struct cache_entry *slot_of(const struct digest *digest)
{
    /* The hex of a digest is uniformly distributed: its first bytes index. */
    const char *hex = digest_hex(digest);
    unsigned index = 0;
    for (int i = 0; i < 4; i++)
        index = index * 16 + (unsigned)(hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);
    return &slots[index % MANIFEST_CACHE_SLOTS];
}

int manifest_cache_lookup(const struct digest *digest, const char **body_out, size_t *length_out,
                          const char **media_type_out)
{
    struct cache_entry *entry = slot_of(digest);
    if (entry->body == NULL || !digest_equal(&entry->digest, digest))
        return 0;
    *body_out = entry->body;
    *length_out = entry->length;
    *media_type_out = entry->media_type;
    return 1;
}

void manifest_cache_store(const struct digest *digest, const char *body, size_t length,
                          const char *media_type)
{
    if (length > MANIFEST_CACHE_ENTRY_MAX)
        return;
    struct cache_entry *entry = slot_of(digest);
    char *copy = realloc(entry->body, length > 0 ? length : 1);
    if (copy == NULL)
        return;
    memcpy(copy, body, length);
    entry->body = copy;
    entry->digest = *digest;
    entry->length = length;
    entry->media_type = media_type;
}
