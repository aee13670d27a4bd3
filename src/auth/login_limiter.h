/*
 * src/auth/login_limiter.h — failed-login rate limits per client address and
 * per user name, decided before a password check so that a refused attempt
 * costs no bcrypt.
 *
 * What it counts: failed password checks (wrong password or unknown user),
 * in a window that starts with a key's first failure and lasts
 * `window_seconds`. Checks admitted but not finished yet count as pending,
 * so that 32 concurrent guesses from one address cannot all pass before the
 * first one fails: an address gets at most `address_failures` checks a
 * window, however many connections it opens.
 *
 * The two limits:
 *  - An address (IPv4, or an IPv6 /64, since whoever holds one /64 holds
 *    them all) with `address_failures` failures is locked: every further
 *    attempt from it is refused until its window ends.
 *  - A user name with `user_failures` failures (from any addresses) is under
 *    attack until its window ends. Then an attempt for that name is refused
 *    only from an address that has failed (any name) in its own window;
 *    an address that has not failed still gets its check. So a distributed
 *    attack gets one guess per address per window at that name, while the
 *    real user, from an address of its own that has not failed, logs in at
 *    once: the name limit never locks the name itself. (A real user who
 *    mistypes once while the name is under attack waits for the window.)
 * A success changes no count: an attacker with one valid account cannot
 * reset its address by logging in. A failure that repeats one of the last
 * LOGIN_LIMITER_GUESSES failed (name, password) pairs of its address is not
 * counted again: it guesses nothing new, and a client with a stale password
 * that sends a dozen requests in parallel (containerd checks every layer at
 * once) must not lock itself out for a window. Pairs are kept as 64-bit
 * keyed hashes, never as text.
 *
 * Memory is fixed at creation: each table (addresses, names) is a keyed hash
 * of `capacity` slots in buckets of LOGIN_LIMITER_WAYS; a new key replaces,
 * within its bucket, an expired entry, else the one least worth keeping (not
 * locked, fewest failures, oldest), so a flood of new addresses or names
 * evicts idle entries before locked ones. Names are kept as a 64-bit keyed
 * hash (SipHash-2-4 under a random per-limiter key), never as text, and the
 * attacker cannot aim keys at one bucket without the key. An evicted key
 * simply starts over: the limits are exact while the table holds the keys.
 *
 * Logging: when a key becomes locked (a burst starts) one WARN line says so;
 * attempts refused while it stays locked are only counted
 * (cairn_login_throttled_total{limit="address"|"user"}).
 *
 * Thread-safety: one mutex around both tables; any thread may call any
 * function (event loops admit and finish). Times come from `clock`
 * (milliseconds, monotonic; NULL: CLOCK_MONOTONIC), which tests replace.
 *
 *     struct login_limiter *limiter;
 *     login_limiter_create(4096, NULL, NULL, &limiter);
 *     struct login_attempt attempt;
 *     unsigned retry_after;
 *     if (login_limiter_admit(limiter, &settings, &address, user, password, &attempt,
 *                             &retry_after)
 *             != LOGIN_ADMITTED)
 *         -> 429 with Retry-After: retry_after
 *     ... bcrypt ...
 *     login_limiter_finish(limiter, &settings, &attempt, LOGIN_FAILED);  // exactly once
 *     login_limiter_free(limiter);
 */
#ifndef CAIRN_SRC_AUTH_LOGIN_LIMITER_H
#define CAIRN_SRC_AUTH_LOGIN_LIMITER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Slots per bucket of each table. */
#define LOGIN_LIMITER_WAYS 8
/* Failed (name, password) pairs remembered per address. */
#define LOGIN_LIMITER_GUESSES 4

/* What the configuration says (cairn.login_limits; src/config fills it). */
struct login_limit_settings {
    int enabled;               /* 0: nothing is limited or counted */
    unsigned address_failures; /* failures from one address before it is locked */
    unsigned user_failures;    /* failures for one name before it is under attack */
    uint64_t window_seconds;
};

/* A client address as the limiter keys it: IPv4 as ::ffff:a.b.c.d, IPv6
 * with its last 64 bits zeroed; all zero when unknown. */
struct login_address {
    unsigned char bytes[16];
};

/* From a peer address (AF_INET or AF_INET6; anything else: unknown). */
void login_address_from_sockaddr(const struct sockaddr *address, socklen_t length,
                                 struct login_address *out);
/* "192.0.2.1" or "2001:db8::/64", for log lines. */
void login_address_format(const struct login_address *address, char *out, size_t size);

enum login_verdict {
    LOGIN_ADMITTED,          /* check the password, then login_limiter_finish() */
    LOGIN_THROTTLED_ADDRESS, /* the address is locked */
    LOGIN_THROTTLED_USER,    /* the name is under attack and this address has failed */
};

enum login_outcome {
    LOGIN_SUCCEEDED,
    LOGIN_FAILED,
    LOGIN_NOT_CHECKED, /* admitted, but the check never ran (no worker took it) */
};

/* What admit counted, for finish. */
struct login_attempt {
    struct login_address address;
    uint64_t user_key;
    uint64_t guess_key; /* the (name, password) pair */
    char user[64];      /* the name, cut, for the log line */
    int pending;        /* admitted and counted as pending */
};

struct login_limiter;

/* `capacity` slots per table (rounded up to whole buckets, at least one).
 * 0 or -ENOMEM. */
int login_limiter_create(size_t capacity, uint64_t (*clock)(void *context), void *clock_context,
                         struct login_limiter **out);
void login_limiter_free(struct login_limiter *limiter);

/* Whether `user` may have a password check (of `password`) from `address` now. Admitted:
 * `*attempt` is filled and must be finished exactly once. Throttled:
 * `*retry_after_seconds` (at least 1) says when the lock ends, and the
 * refusal is counted in the metrics. With settings->enabled 0: admitted,
 * nothing counted. */
enum login_verdict login_limiter_admit(struct login_limiter *limiter,
                                       const struct login_limit_settings *settings,
                                       const struct login_address *address, const char *user,
                                       const char *password, struct login_attempt *attempt,
                                       unsigned *retry_after_seconds);

/* The outcome of an admitted attempt: a failure counts against its address
 * and name (and may lock them: one WARN line then). */
void login_limiter_finish(struct login_limiter *limiter,
                          const struct login_limit_settings *settings,
                          struct login_attempt *attempt, enum login_outcome outcome);

/* Entries in use in both tables (tests: never above the capacity). */
size_t login_limiter_entries(struct login_limiter *limiter);
/* Slots of both tables together: fixed at creation. */
size_t login_limiter_slots(const struct login_limiter *limiter);

#endif
