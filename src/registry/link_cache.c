/* src/registry/link_cache.h */
#include "src/registry/link_cache.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "layout/link_file.h"

struct cache_slot {
    char *path; /* NULL: empty */
    size_t path_length;
    struct link_stamp stamp;
    struct digest digest;
    int64_t kept_ns; /* CLOCK_MONOTONIC_COARSE of the last link_cache_keep() */
};

static int64_t monotonic_ns(void)
{
    struct timespec now;
    if (clock_gettime(CLOCK_MONOTONIC_COARSE, &now) != 0)
        return INT64_MIN; /* nothing counts as recently kept */
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static _Thread_local struct cache_slot slots[LINK_CACHE_SLOTS];

static struct cache_slot *slot_of(const char *path, size_t length)
{
    uint64_t hash = 14695981039346656037u; /* FNV-1a */
    for (size_t i = 0; i < length; i++)
        hash = (hash ^ (unsigned char)path[i]) * 1099511628211u;
    return &slots[hash % LINK_CACHE_SLOTS];
}

static void slot_clear(struct cache_slot *slot)
{
    free(slot->path);
    slot->path = NULL;
}

static void slot_fill(struct cache_slot *slot, const char *path, size_t length,
                      const struct link_stamp *stamp, const struct digest *digest)
{
    if (slot->path == NULL || slot->path_length != length) {
        char *copy = realloc(slot->path, length + 1);
        if (copy == NULL) {
            slot_clear(slot);
            return; /* not cached: the next lookup reads the link again */
        }
        slot->path = copy;
    }
    memcpy(slot->path, path, length + 1);
    slot->path_length = length;
    slot->stamp = *stamp;
    slot->digest = *digest;
}

/* Whether a link's version can be told from later ones by its stamp alone
 * (the header: changed at least LINK_CACHE_SETTLE_SECONDS ago). */
static int stamp_settled(const struct link_stamp *stamp)
{
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0)
        return 0;
    const struct timespec *times[] = {&stamp->changed, &stamp->modified};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        int64_t age_ns = ((int64_t)now.tv_sec - (int64_t)times[i]->tv_sec) * 1000000000 +
                         ((int64_t)now.tv_nsec - (int64_t)times[i]->tv_nsec);
        if (age_ns < (int64_t)LINK_CACHE_SETTLE_SECONDS * 1000000000)
            return 0; /* also a time in the future */
    }
    return 1;
}

static int slot_holds(const struct cache_slot *slot, const char *path, size_t length)
{
    return slot->path != NULL && slot->path_length == length &&
           memcmp(slot->path, path, length) == 0;
}

int link_cache_read(const char *path, struct digest *out, struct link_stamp *stamp)
{
    size_t length = strlen(path);
    struct cache_slot *slot = slot_of(path, length);
    if (slot_holds(slot, path, length)) {
        int result = link_file_stamp(path, stamp);
        if (result == 0 && link_stamp_equal(stamp, &slot->stamp)) {
            *out = slot->digest;
            int64_t now = monotonic_ns();
            int64_t age = now - slot->kept_ns;
            return now != INT64_MIN && age >= 0 &&
                   age < (int64_t)LINK_CACHE_TRUST_MILLISECONDS * 1000000;
        }
        slot_clear(slot); /* gone, or another version */
        if (result < 0)
            return result;
    }
    return link_file_read_stamped(path, out, stamp);
}

void link_cache_keep(const char *path, const struct link_stamp *stamp, const struct digest *digest)
{
    if (!stamp_settled(stamp))
        return;
    size_t length = strlen(path);
    struct cache_slot *slot = slot_of(path, length);
    if (!slot_holds(slot, path, length) || !link_stamp_equal(stamp, &slot->stamp))
        slot_fill(slot, path, length, stamp, digest);
    if (slot_holds(slot, path, length))
        slot->kept_ns = monotonic_ns();
}
