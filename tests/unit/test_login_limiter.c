/* Unit tests for src/auth/login_limiter.h, on a clock the test moves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "src/auth/login_limiter.h"

static uint64_t now_ms;

static uint64_t test_clock(void *context)
{
    (void)context;
    return now_ms;
}

static const struct login_limit_settings limits = {
    .enabled = 1, .address_failures = 3, .user_failures = 5, .window_seconds = 60};

static struct login_address ipv4(const char *text)
{
    struct sockaddr_in in = {.sin_family = AF_INET};
    inet_pton(AF_INET, text, &in.sin_addr);
    struct login_address address;
    login_address_from_sockaddr((struct sockaddr *)&in, sizeof in, &address);
    return address;
}

static struct login_address ipv6(const char *text)
{
    struct sockaddr_in6 in = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, text, &in.sin6_addr);
    struct login_address address;
    login_address_from_sockaddr((struct sockaddr *)&in, sizeof in, &address);
    return address;
}

/* One attempt that, when admitted, ends with `outcome`. */
static enum login_verdict attempt(struct login_limiter *limiter, const char *address,
                                  const char *user, enum login_outcome outcome,
                                  unsigned *retry_after)
{
    struct login_address from = ipv4(address);
    struct login_attempt ticket;
    unsigned ignored;
    static unsigned guess;
    char password[32];
    snprintf(password, sizeof password, "guess %u", ++guess); /* a new one each time */
    enum login_verdict verdict =
        login_limiter_admit(limiter, &limits, &from, user, password, &ticket,
                            retry_after != NULL ? retry_after : &ignored);
    if (verdict == LOGIN_ADMITTED)
        login_limiter_finish(limiter, &limits, &ticket, outcome);
    return verdict;
}

static struct login_limiter *make(size_t capacity)
{
    struct login_limiter *limiter;
    now_ms = 1000000;
    assert_int_equal(login_limiter_create(capacity, test_clock, NULL, &limiter), 0);
    return limiter;
}

static void test_address_locked_after_its_failures(void **state)
{
    (void)state;
    struct login_limiter *limiter = make(64);
    for (int i = 0; i < 3; i++)
        assert_int_equal(attempt(limiter, "192.0.2.1", "mallory", LOGIN_FAILED, NULL),
                         LOGIN_ADMITTED);
    unsigned retry = 0;
    assert_int_equal(attempt(limiter, "192.0.2.1", "alice", LOGIN_SUCCEEDED, &retry),
                     LOGIN_THROTTLED_ADDRESS);
    assert_int_equal(retry, 60);
    /* another address is not affected */
    assert_int_equal(attempt(limiter, "192.0.2.2", "mallory", LOGIN_FAILED, NULL), LOGIN_ADMITTED);
    now_ms += 59 * 1000;
    assert_int_equal(attempt(limiter, "192.0.2.1", "bob", LOGIN_FAILED, &retry),
                     LOGIN_THROTTLED_ADDRESS);
    assert_int_equal(retry, 1);
    now_ms += 1000; /* the lock is over, and with it the window */
    assert_int_equal(attempt(limiter, "192.0.2.1", "bob", LOGIN_FAILED, NULL), LOGIN_ADMITTED);
    assert_int_equal(attempt(limiter, "192.0.2.1", "bob", LOGIN_FAILED, NULL), LOGIN_ADMITTED);
    assert_int_equal(attempt(limiter, "192.0.2.1", "bob", LOGIN_FAILED, NULL), LOGIN_ADMITTED);
    assert_int_equal(attempt(limiter, "192.0.2.1", "bob", LOGIN_FAILED, NULL),
                     LOGIN_THROTTLED_ADDRESS);
    login_limiter_free(limiter);
}

static void test_failures_outside_the_window_are_forgotten(void **state)
{
    (void)state;
    struct login_limiter *limiter = make(64);
    assert_int_equal(attempt(limiter, "192.0.2.1", "x", LOGIN_FAILED, NULL), LOGIN_ADMITTED);
    assert_int_equal(attempt(limiter, "192.0.2.1", "x", LOGIN_FAILED, NULL), LOGIN_ADMITTED);
    now_ms += 60 * 1000; /* the window of the first failure is over */
    assert_int_equal(attempt(limiter, "192.0.2.1", "x", LOGIN_FAILED, NULL), LOGIN_ADMITTED);
    assert_int_equal(attempt(limiter, "192.0.2.1", "x", LOGIN_FAILED, NULL), LOGIN_ADMITTED);
    assert_int_equal(attempt(limiter, "192.0.2.1", "x", LOGIN_SUCCEEDED, NULL), LOGIN_ADMITTED);
    /* successes do not reset the count */
    assert_int_equal(attempt(limiter, "192.0.2.1", "x", LOGIN_FAILED, NULL), LOGIN_ADMITTED);
    assert_int_equal(attempt(limiter, "192.0.2.1", "x", LOGIN_FAILED, NULL),
                     LOGIN_THROTTLED_ADDRESS);
    login_limiter_free(limiter);
}

static void test_pending_checks_count(void **state)
{
    (void)state;
    struct login_limiter *limiter = make(64);
    struct login_address from = ipv4("192.0.2.1");
    struct login_attempt tickets[3], extra;
    unsigned retry;
    for (int i = 0; i < 3; i++)
        assert_int_equal(
            login_limiter_admit(limiter, &limits, &from, "alice", "pw", &tickets[i], &retry),
            LOGIN_ADMITTED);
    /* three checks running: a fourth would pass the limit if they fail */
    assert_int_equal(login_limiter_admit(limiter, &limits, &from, "alice", "pw", &extra, &retry),
                     LOGIN_THROTTLED_ADDRESS);
    assert_int_equal(retry, 1);
    login_limiter_finish(limiter, &limits, &tickets[0], LOGIN_SUCCEEDED);
    login_limiter_finish(limiter, &limits, &tickets[1], LOGIN_NOT_CHECKED);
    assert_int_equal(login_limiter_admit(limiter, &limits, &from, "alice", "pw2", &extra, &retry),
                     LOGIN_ADMITTED);
    login_limiter_finish(limiter, &limits, &extra, LOGIN_FAILED);
    login_limiter_finish(limiter, &limits, &extra, LOGIN_FAILED); /* twice: ignored */
    login_limiter_finish(limiter, &limits, &tickets[2], LOGIN_FAILED);
    /* two failures: one more may be checked */
    assert_int_equal(attempt(limiter, "192.0.2.1", "alice", LOGIN_FAILED, NULL), LOGIN_ADMITTED);
    assert_int_equal(attempt(limiter, "192.0.2.1", "alice", LOGIN_FAILED, NULL),
                     LOGIN_THROTTLED_ADDRESS);
    login_limiter_free(limiter);
}

static void test_repeated_guesses_count_once(void **state)
{
    (void)state;
    struct login_limiter *limiter = make(64);
    struct login_address from = ipv4("192.0.2.1");
    struct login_attempt ticket;
    unsigned retry;
    /* a stale password, sent again and again: one failure */
    for (int i = 0; i < 20; i++) {
        assert_int_equal(
            login_limiter_admit(limiter, &limits, &from, "alice", "stale", &ticket, &retry),
            LOGIN_ADMITTED);
        login_limiter_finish(limiter, &limits, &ticket, LOGIN_FAILED);
    }
    /* two new guesses, and the address is locked */
    assert_int_equal(attempt(limiter, "192.0.2.1", "alice", LOGIN_FAILED, NULL), LOGIN_ADMITTED);
    assert_int_equal(attempt(limiter, "192.0.2.1", "alice", LOGIN_FAILED, NULL), LOGIN_ADMITTED);
    assert_int_equal(attempt(limiter, "192.0.2.1", "alice", LOGIN_FAILED, NULL),
                     LOGIN_THROTTLED_ADDRESS);
    login_limiter_free(limiter);
}

static void test_user_under_attack_refuses_only_failed_addresses(void **state)
{
    (void)state;
    struct login_limiter *limiter = make(64);
    char address[32];
    /* five addresses, one failure each for alice: below their own limit */
    for (int i = 1; i <= 5; i++) {
        snprintf(address, sizeof address, "198.51.100.%d", i);
        assert_int_equal(attempt(limiter, address, "alice", LOGIN_FAILED, NULL), LOGIN_ADMITTED);
    }
    unsigned retry = 0;
    assert_int_equal(attempt(limiter, "198.51.100.1", "alice", LOGIN_FAILED, &retry),
                     LOGIN_THROTTLED_USER);
    assert_int_equal(retry, 60);
    /* the same address may still try other names */
    assert_int_equal(attempt(limiter, "198.51.100.1", "bob", LOGIN_FAILED, NULL), LOGIN_ADMITTED);
    /* a fresh address gets one check, then it has failed too */
    assert_int_equal(attempt(limiter, "198.51.100.9", "alice", LOGIN_FAILED, NULL), LOGIN_ADMITTED);
    assert_int_equal(attempt(limiter, "198.51.100.9", "alice", LOGIN_FAILED, NULL),
                     LOGIN_THROTTLED_USER);
    /* the real alice, from an address that never failed, gets her check */
    assert_int_equal(attempt(limiter, "203.0.113.7", "alice", LOGIN_SUCCEEDED, NULL),
                     LOGIN_ADMITTED);
    assert_int_equal(attempt(limiter, "203.0.113.7", "alice", LOGIN_SUCCEEDED, NULL),
                     LOGIN_ADMITTED);
    /* the attack is over a window after its last failure */
    now_ms += 60 * 1000;
    assert_int_equal(attempt(limiter, "198.51.100.9", "alice", LOGIN_FAILED, NULL), LOGIN_ADMITTED);
    login_limiter_free(limiter);
}

static void test_ipv6_by_prefix(void **state)
{
    (void)state;
    struct login_address a = ipv6("2001:db8:1:2::1"), b = ipv6("2001:db8:1:2:ffff::9"),
                         c = ipv6("2001:db8:1:3::1"), d = ipv6("::ffff:192.0.2.1"),
                         e = ipv4("192.0.2.1");
    assert_memory_equal(a.bytes, b.bytes, 16);
    assert_memory_not_equal(a.bytes, c.bytes, 16);
    assert_memory_equal(d.bytes, e.bytes, 16);
    char text[64];
    login_address_format(&a, text, sizeof text);
    assert_string_equal(text, "2001:db8:1:2::/64");
    login_address_format(&e, text, sizeof text);
    assert_string_equal(text, "192.0.2.1");
}

static void test_disabled_counts_nothing(void **state)
{
    (void)state;
    struct login_limiter *limiter = make(64);
    struct login_limit_settings off = limits;
    off.enabled = 0;
    struct login_address from = ipv4("192.0.2.1");
    for (int i = 0; i < 10; i++) {
        struct login_attempt ticket;
        unsigned retry;
        assert_int_equal(login_limiter_admit(limiter, &off, &from, "a", "pw", &ticket, &retry),
                         LOGIN_ADMITTED);
        login_limiter_finish(limiter, &off, &ticket, LOGIN_FAILED);
    }
    assert_int_equal(login_limiter_entries(limiter), 0);
    login_limiter_free(limiter);
}

static void test_memory_is_bounded_and_locks_survive_floods(void **state)
{
    (void)state;
    struct login_limiter *limiter = make(64);
    size_t slots = login_limiter_slots(limiter);
    assert_int_equal(slots, 2 * 64);
    for (int i = 0; i < 3; i++)
        attempt(limiter, "192.0.2.1", "mallory", LOGIN_FAILED, NULL);
    char address[32], user[32];
    /* 100,000 new addresses and names, one failure each */
    for (int i = 0; i < 100000; i++) {
        snprintf(address, sizeof address, "10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
        snprintf(user, sizeof user, "u%d", i);
        attempt(limiter, address, user, LOGIN_FAILED, NULL);
        assert_true(login_limiter_entries(limiter) <= slots);
    }
    assert_int_equal(login_limiter_slots(limiter), slots);
    /* the locked address was never the one to go */
    assert_int_equal(attempt(limiter, "192.0.2.1", "mallory", LOGIN_FAILED, NULL),
                     LOGIN_THROTTLED_ADDRESS);
    /* once every window is over, every slot is free again */
    now_ms += 61 * 1000;
    assert_int_equal(attempt(limiter, "192.0.2.1", "mallory", LOGIN_SUCCEEDED, NULL),
                     LOGIN_ADMITTED);
    login_limiter_free(limiter);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_address_locked_after_its_failures),
        cmocka_unit_test(test_failures_outside_the_window_are_forgotten),
        cmocka_unit_test(test_pending_checks_count),
        cmocka_unit_test(test_repeated_guesses_count_once),
        cmocka_unit_test(test_user_under_attack_refuses_only_failed_addresses),
        cmocka_unit_test(test_ipv6_by_prefix),
        cmocka_unit_test(test_disabled_counts_nothing),
        cmocka_unit_test(test_memory_is_bounded_and_locks_survive_floods),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
