/* src/http/address_block.c — see address_block.h. */
#include "src/http/address_block.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

struct blocked_address {
    struct login_address address;
    unsigned strikes;
    uint64_t window_end;    /* ms */
    uint64_t blocked_until; /* ms; 0: never blocked in this window */
};

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static struct blocked_address entries[ADDRESS_BLOCK_CAPACITY];
static size_t entry_count;           /* entries[0 .. entry_count) are tracked */
static _Atomic size_t tracked_count; /* entry_count, for the lock-free check */
static uint64_t block_duration_ms;

uint64_t address_block_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

void address_block_configure(uint64_t block_ms)
{
    pthread_mutex_lock(&mutex);
    block_duration_ms = block_ms;
    entry_count = 0;
    atomic_store(&tracked_count, 0);
    pthread_mutex_unlock(&mutex);
}

static int unknown(const struct login_address *address)
{
    static const struct login_address zero;
    return memcmp(address, &zero, sizeof zero) == 0;
}

/* When an entry stops mattering: its window or its block, whichever is later. */
static uint64_t ends_at(const struct blocked_address *entry)
{
    return entry->blocked_until > entry->window_end ? entry->blocked_until : entry->window_end;
}

/* Drops entries that no longer matter (under the mutex). */
static void forget_expired(uint64_t now)
{
    size_t kept = 0;
    for (size_t i = 0; i < entry_count; i++)
        if (ends_at(&entries[i]) > now)
            entries[kept++] = entries[i];
    entry_count = kept;
}

static struct blocked_address *find(const struct login_address *address)
{
    for (size_t i = 0; i < entry_count; i++)
        if (memcmp(&entries[i].address, address, sizeof *address) == 0)
            return &entries[i];
    return NULL;
}

/* Whether entry a is a better one to replace than b at `now`: one that is
 * not blocked before one that is, then the one that ends first. */
static int replace_before(const struct blocked_address *a, const struct blocked_address *b,
                          uint64_t now)
{
    int a_blocked = a->blocked_until > now, b_blocked = b->blocked_until > now;
    if (a_blocked != b_blocked)
        return !a_blocked;
    return ends_at(a) < ends_at(b);
}

static struct blocked_address *add(const struct login_address *address, uint64_t now)
{
    struct blocked_address *entry;
    if (entry_count < ADDRESS_BLOCK_CAPACITY) {
        entry = &entries[entry_count++];
    } else {
        entry = &entries[0];
        for (size_t i = 1; i < entry_count; i++)
            if (replace_before(&entries[i], entry, now))
                entry = &entries[i];
    }
    *entry =
        (struct blocked_address){.address = *address, .window_end = now + ADDRESS_BLOCK_WINDOW_MS};
    return entry;
}

int address_block_strike(const struct login_address *address, uint64_t now)
{
    if (unknown(address))
        return 0;
    int blocked_now = 0;
    pthread_mutex_lock(&mutex);
    if (block_duration_ms > 0) {
        forget_expired(now);
        struct blocked_address *entry = find(address);
        if (entry == NULL)
            entry = add(address, now);
        entry->strikes++;
        if (entry->strikes >= ADDRESS_BLOCK_STRIKES && entry->blocked_until <= now) {
            entry->blocked_until = now + block_duration_ms;
            blocked_now = 1;
        }
        atomic_store(&tracked_count, entry_count);
    }
    pthread_mutex_unlock(&mutex);
    return blocked_now;
}

int address_block_tracking(void)
{
    return atomic_load_explicit(&tracked_count, memory_order_relaxed) != 0;
}

int address_block_refuses(const struct login_address *address, uint64_t now)
{
    if (!address_block_tracking())
        return 0;
    pthread_mutex_lock(&mutex);
    const struct blocked_address *entry = find(address);
    int refused = entry != NULL && entry->blocked_until > now;
    pthread_mutex_unlock(&mutex);
    return refused;
}
