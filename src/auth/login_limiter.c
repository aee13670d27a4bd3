/* src/auth/login_limiter.h */
#include "src/auth/login_limiter.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "layout/error.h"
#include "src/observe/access_log.h"
#include "src/observe/metrics.h"

struct limiter_entry {
    unsigned char key[16];
    int used;
    unsigned failures;                              /* in the window */
    unsigned pending;                               /* admitted, not finished */
    uint64_t window_end;                            /* ms; 0: no failure yet */
    uint64_t locked_until;                          /* ms; 0: not locked */
    uint64_t last_seen;                             /* ms */
    uint64_t failed_guesses[LOGIN_LIMITER_GUESSES]; /* addresses: recent failed pairs */
    unsigned next_guess;
};

struct limiter_table {
    size_t bucket_count;
    struct limiter_entry *entries; /* bucket_count * LOGIN_LIMITER_WAYS */
};

struct login_limiter {
    pthread_mutex_t mutex;
    uint64_t (*clock)(void *context);
    void *clock_context;
    uint64_t hash_key[2];
    struct limiter_table addresses, users;
};

/* ---- addresses ---- */

void login_address_from_sockaddr(const struct sockaddr *address, socklen_t length,
                                 struct login_address *out)
{
    memset(out, 0, sizeof *out);
    if (address == NULL)
        return;
    if (address->sa_family == AF_INET && length >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)address;
        out->bytes[10] = out->bytes[11] = 0xff;
        memcpy(out->bytes + 12, &v4->sin_addr, 4);
    } else if (address->sa_family == AF_INET6 && length >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)address;
        memcpy(out->bytes, &v6->sin6_addr, 16);
        if (!IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr))
            memset(out->bytes + 8, 0, 8); /* the /64 */
    }
}

void login_address_format(const struct login_address *address, char *out, size_t size)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char text[INET6_ADDRSTRLEN] = "?";
    if (memcmp(address->bytes, mapped, 12) == 0) {
        inet_ntop(AF_INET, address->bytes + 12, text, sizeof text);
        snprintf(out, size, "%s", text);
    } else {
        inet_ntop(AF_INET6, address->bytes, text, sizeof text);
        snprintf(out, size, "%s/64", text);
    }
}

/* ---- SipHash-2-4 (keys chosen by clients must not collide at will) ---- */

#define ROTATE(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIP_ROUND(v0, v1, v2, v3)                                                                  \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTATE(v1, 13);                                                                       \
        v1 ^= v0;                                                                                  \
        v0 = ROTATE(v0, 32);                                                                       \
        v2 += v3;                                                                                  \
        v3 = ROTATE(v3, 16);                                                                       \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTATE(v3, 21);                                                                       \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTATE(v1, 17);                                                                       \
        v1 ^= v2;                                                                                  \
        v2 = ROTATE(v2, 32);                                                                       \
    } while (0)

static uint64_t siphash(const uint64_t key[2], const unsigned char *data, size_t length)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ key[0], v1 = 0x646f72616e646f6dULL ^ key[1];
    uint64_t v2 = 0x6c7967656e657261ULL ^ key[0], v3 = 0x7465646279746573ULL ^ key[1];
    uint64_t last = (uint64_t)length << 56;
    size_t whole = length - length % 8;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = 0;
        for (int j = 7; j >= 0; j--)
            m = m << 8 | data[i + (size_t)j];
        v3 ^= m;
        SIP_ROUND(v0, v1, v2, v3);
        SIP_ROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    for (size_t j = 0; j < length % 8; j++)
        last |= (uint64_t)data[whole + j] << (8 * j);
    v3 ^= last;
    SIP_ROUND(v0, v1, v2, v3);
    SIP_ROUND(v0, v1, v2, v3);
    v0 ^= last;
    v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        SIP_ROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- tables ---- */

static uint64_t monotonic_milliseconds(void *context)
{
    (void)context;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

static int table_init(struct limiter_table *table, size_t capacity)
{
    table->bucket_count = (capacity + LOGIN_LIMITER_WAYS - 1) / LOGIN_LIMITER_WAYS;
    if (table->bucket_count == 0)
        table->bucket_count = 1;
    table->entries = calloc(table->bucket_count * LOGIN_LIMITER_WAYS, sizeof *table->entries);
    return table->entries != NULL ? 0 : -ENOMEM;
}

int login_limiter_create(size_t capacity, uint64_t (*clock)(void *context), void *clock_context,
                         struct login_limiter **out)
{
    struct login_limiter *limiter = calloc(1, sizeof *limiter);
    if (limiter == NULL || table_init(&limiter->addresses, capacity) < 0 ||
        table_init(&limiter->users, capacity) < 0) {
        login_limiter_free(limiter);
        return error_set(-ENOMEM, "out of memory");
    }
    if (getrandom(limiter->hash_key, sizeof limiter->hash_key, 0) !=
        (ssize_t)sizeof limiter->hash_key) {
        /* Still correct, only guessable: mix in what differs per process. */
        limiter->hash_key[0] = (uint64_t)(uintptr_t)limiter ^ monotonic_milliseconds(NULL);
        limiter->hash_key[1] = (uint64_t)time(NULL);
    }
    pthread_mutex_init(&limiter->mutex, NULL);
    limiter->clock = clock != NULL ? clock : monotonic_milliseconds;
    limiter->clock_context = clock_context;
    *out = limiter;
    return 0;
}

void login_limiter_free(struct login_limiter *limiter)
{
    if (limiter == NULL)
        return;
    if (limiter->addresses.entries != NULL && limiter->users.entries != NULL)
        pthread_mutex_destroy(&limiter->mutex);
    free(limiter->addresses.entries);
    free(limiter->users.entries);
    free(limiter);
}

/* Forgets a window that is over (the entry stays, for its pending checks). */
static void refresh(struct limiter_entry *entry, uint64_t now)
{
    if (entry->locked_until != 0 && now >= entry->locked_until)
        entry->locked_until = 0;
    if (entry->locked_until == 0 && entry->window_end != 0 && now >= entry->window_end) {
        entry->window_end = 0;
        entry->failures = 0;
        memset(entry->failed_guesses, 0, sizeof entry->failed_guesses);
    }
}

static int idle(const struct limiter_entry *entry)
{
    return !entry->used ||
           (entry->pending == 0 && entry->failures == 0 && entry->locked_until == 0);
}

static struct limiter_entry *bucket_of(struct login_limiter *limiter, struct limiter_table *table,
                                       const unsigned char key[16])
{
    uint64_t hash = siphash(limiter->hash_key, key, 16);
    return &table->entries[(hash % table->bucket_count) * LOGIN_LIMITER_WAYS];
}

static struct limiter_entry *find(struct login_limiter *limiter, struct limiter_table *table,
                                  const unsigned char key[16], uint64_t now)
{
    struct limiter_entry *bucket = bucket_of(limiter, table, key);
    for (int i = 0; i < LOGIN_LIMITER_WAYS; i++)
        if (bucket[i].used && memcmp(bucket[i].key, key, 16) == 0) {
            refresh(&bucket[i], now);
            return &bucket[i];
        }
    return NULL;
}

/* Lower is evicted first: idle, then not locked, no check running, fewest
 * failures, least recently seen. */
static int keep_before(const struct limiter_entry *a, const struct limiter_entry *b)
{
    if ((a->locked_until != 0) != (b->locked_until != 0))
        return a->locked_until != 0;
    if ((a->pending != 0) != (b->pending != 0))
        return a->pending != 0;
    if (a->failures != b->failures)
        return a->failures > b->failures;
    return a->last_seen > b->last_seen;
}

static struct limiter_entry *find_or_add(struct login_limiter *limiter, struct limiter_table *table,
                                         const unsigned char key[16], uint64_t now)
{
    struct limiter_entry *entry = find(limiter, table, key, now);
    if (entry != NULL)
        return entry;
    struct limiter_entry *bucket = bucket_of(limiter, table, key), *victim = NULL;
    for (int i = 0; i < LOGIN_LIMITER_WAYS; i++) {
        if (bucket[i].used)
            refresh(&bucket[i], now);
        if (idle(&bucket[i])) {
            victim = &bucket[i];
            break;
        }
        if (victim == NULL || keep_before(victim, &bucket[i]))
            victim = &bucket[i];
    }
    memset(victim, 0, sizeof *victim);
    memcpy(victim->key, key, 16);
    victim->used = 1;
    victim->last_seen = now;
    return victim;
}

static void user_key(struct login_limiter *limiter, const char *user, uint64_t *key_out,
                     unsigned char key[16])
{
    *key_out = siphash(limiter->hash_key, (const unsigned char *)user, strlen(user));
    memset(key, 0, 16);
    memcpy(key, key_out, sizeof *key_out);
}

static unsigned seconds_until(uint64_t until, uint64_t now)
{
    uint64_t seconds = until > now ? (until - now + 999) / 1000 : 1;
    return seconds < 1 ? 1 : seconds > 86400 * 365 ? 86400 * 365 : (unsigned)seconds;
}

enum login_verdict login_limiter_admit(struct login_limiter *limiter,
                                       const struct login_limit_settings *settings,
                                       const struct login_address *address, const char *user,
                                       const char *password, struct login_attempt *attempt,
                                       unsigned *retry_after_seconds)
{
    memset(attempt, 0, sizeof *attempt);
    *retry_after_seconds = 0;
    if (limiter == NULL || !settings->enabled)
        return LOGIN_ADMITTED;
    unsigned char key[16];
    attempt->address = *address;
    user_key(limiter, user, &attempt->user_key, key);
    {
        size_t user_length = strlen(user), password_length = strlen(password);
        unsigned char pair[256 + 1 + 1024];
        if (user_length + 1 + password_length > sizeof pair)
            password_length = sizeof pair - 1 - (user_length < 256 ? user_length : 256);
        user_length = user_length < 256 ? user_length : 256;
        memcpy(pair, user, user_length);
        pair[user_length] = '\0';
        memcpy(pair + user_length + 1, password, password_length);
        attempt->guess_key = siphash(limiter->hash_key, pair, user_length + 1 + password_length);
        memset(pair, 0, sizeof pair);
        if (attempt->guess_key == 0)
            attempt->guess_key = 1; /* 0 marks an empty slot */
    }
    snprintf(attempt->user, sizeof attempt->user, "%s", user);

    pthread_mutex_lock(&limiter->mutex);
    uint64_t now = limiter->clock(limiter->clock_context);
    enum login_verdict verdict = LOGIN_ADMITTED;
    struct limiter_entry *from = find(limiter, &limiter->addresses, address->bytes, now);
    struct limiter_entry *name = find(limiter, &limiter->users, key, now);
    if (from != NULL && from->locked_until != 0) {
        verdict = LOGIN_THROTTLED_ADDRESS;
        *retry_after_seconds = seconds_until(from->locked_until, now);
    } else if (from != NULL && from->failures + from->pending >= settings->address_failures) {
        verdict = LOGIN_THROTTLED_ADDRESS; /* its last checks are still running */
        *retry_after_seconds = 1;
    } else if (name != NULL && from != NULL && from->failures + from->pending > 0 &&
               (name->locked_until != 0 ||
                name->failures + name->pending >= settings->user_failures)) {
        verdict = LOGIN_THROTTLED_USER;
        *retry_after_seconds = name->locked_until != 0 ? seconds_until(name->locked_until, now) : 1;
    }
    if (verdict == LOGIN_ADMITTED) {
        from = find_or_add(limiter, &limiter->addresses, address->bytes, now);
        from->pending++;
        from->last_seen = now;
        name = find_or_add(limiter, &limiter->users, key, now);
        name->pending++;
        name->last_seen = now;
        attempt->pending = 1;
    }
    pthread_mutex_unlock(&limiter->mutex);
    if (verdict != LOGIN_ADMITTED)
        metrics_login_throttled(verdict == LOGIN_THROTTLED_ADDRESS ? METRICS_LOGIN_LIMIT_ADDRESS
                                                                   : METRICS_LOGIN_LIMIT_USER);
    return verdict;
}

/* Counts a failure; 1 when it locked the entry (a burst begins). */
static int count_failure(struct limiter_entry *entry, unsigned limit, uint64_t window, uint64_t now)
{
    if (entry->window_end == 0)
        entry->window_end = now + window;
    entry->failures++;
    if (entry->failures < limit)
        return 0;
    int burst = entry->locked_until == 0;
    entry->locked_until = now + window; /* a lasting attack keeps it locked */
    return burst;
}

void login_limiter_finish(struct login_limiter *limiter,
                          const struct login_limit_settings *settings,
                          struct login_attempt *attempt, enum login_outcome outcome)
{
    if (limiter == NULL || !attempt->pending)
        return;
    attempt->pending = 0;
    unsigned char key[16] = {0};
    memcpy(key, &attempt->user_key, sizeof attempt->user_key);
    uint64_t window = settings->window_seconds * 1000;
    int address_burst = 0, user_burst = 0;

    pthread_mutex_lock(&limiter->mutex);
    uint64_t now = limiter->clock(limiter->clock_context);
    struct limiter_entry *from = find(limiter, &limiter->addresses, attempt->address.bytes, now);
    if (from != NULL && from->pending > 0)
        from->pending--;
    struct limiter_entry *name = find(limiter, &limiter->users, key, now);
    if (name != NULL && name->pending > 0)
        name->pending--;
    int repeat = 0;
    if (outcome == LOGIN_FAILED && settings->enabled && from != NULL)
        for (int i = 0; i < LOGIN_LIMITER_GUESSES; i++)
            repeat |= from->failed_guesses[i] == attempt->guess_key;
    if (outcome == LOGIN_FAILED && settings->enabled && !repeat) {
        from = find_or_add(limiter, &limiter->addresses, attempt->address.bytes, now);
        from->failed_guesses[from->next_guess++ % LOGIN_LIMITER_GUESSES] = attempt->guess_key;
        address_burst = count_failure(from, settings->address_failures, window, now);
        name = find_or_add(limiter, &limiter->users, key, now);
        user_burst = count_failure(name, settings->user_failures, window, now);
    }
    pthread_mutex_unlock(&limiter->mutex);

    char shown[64];
    if (address_burst) {
        login_address_format(&attempt->address, shown, sizeof shown);
        log_message(LOG_LEVEL_WARN,
                    "login attempts from %s throttled: %u failed logins within %llus; "
                    "refused without a password check for %llus",
                    shown, settings->address_failures, (unsigned long long)settings->window_seconds,
                    (unsigned long long)settings->window_seconds);
    }
    if (user_burst)
        log_message(LOG_LEVEL_WARN,
                    "login attempts for user \"%s\" throttled: %u failed logins within %llus; "
                    "addresses that failed are refused for %llus, others still get a check",
                    attempt->user, settings->user_failures,
                    (unsigned long long)settings->window_seconds,
                    (unsigned long long)settings->window_seconds);
}

static size_t table_entries(const struct limiter_table *table)
{
    size_t count = 0;
    for (size_t i = 0; i < table->bucket_count * LOGIN_LIMITER_WAYS; i++)
        count += table->entries[i].used && !idle(&table->entries[i]);
    return count;
}

size_t login_limiter_entries(struct login_limiter *limiter)
{
    pthread_mutex_lock(&limiter->mutex);
    size_t count = table_entries(&limiter->addresses) + table_entries(&limiter->users);
    pthread_mutex_unlock(&limiter->mutex);
    return count;
}

size_t login_limiter_slots(const struct login_limiter *limiter)
{
    return (limiter->addresses.bucket_count + limiter->users.bucket_count) * LOGIN_LIMITER_WAYS;
}
