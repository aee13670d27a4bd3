/* Unit tests for src/http/address_block.h: strikes, the window, the block
 * and its end, the fixed capacity; times are passed by the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "src/http/address_block.h"

static struct login_address ipv4(const char *text)
{
    struct sockaddr_in in = {.sin_family = AF_INET};
    inet_pton(AF_INET, text, &in.sin_addr);
    struct login_address address;
    login_address_from_sockaddr((struct sockaddr *)&in, sizeof in, &address);
    return address;
}

static int setup(void **state)
{
    (void)state;
    address_block_configure(30000);
    return 0;
}

static void test_third_strike_blocks_for_the_duration(void **state)
{
    (void)state;
    struct login_address a = ipv4("192.0.2.1"), b = ipv4("192.0.2.2");
    assert_false(address_block_tracking());
    assert_int_equal(address_block_strike(&a, 1000), 0);
    assert_int_equal(address_block_strike(&a, 2000), 0);
    assert_false(address_block_refuses(&a, 2500));
    assert_int_equal(address_block_strike(&a, 3000), 1);
    assert_true(address_block_tracking());
    assert_true(address_block_refuses(&a, 3000));
    assert_true(address_block_refuses(&a, 32999));
    assert_false(address_block_refuses(&b, 3000)); /* others are not */
    /* a strike while blocked (a connection accepted before) does not extend it */
    assert_int_equal(address_block_strike(&a, 10000), 0);
    assert_false(address_block_refuses(&a, 33000));
    /* still inside the window (1000 + 60000): the next strike blocks again */
    assert_int_equal(address_block_strike(&a, 40000), 1);
    assert_true(address_block_refuses(&a, 40001));
}

static void test_strikes_expire_with_the_window(void **state)
{
    (void)state;
    struct login_address a = ipv4("198.51.100.7");
    assert_int_equal(address_block_strike(&a, 0), 0);
    assert_int_equal(address_block_strike(&a, 1000), 0);
    /* the window of the first strike has ended: counting starts again */
    assert_int_equal(address_block_strike(&a, ADDRESS_BLOCK_WINDOW_MS + 1), 0);
    assert_int_equal(address_block_strike(&a, ADDRESS_BLOCK_WINDOW_MS + 2), 0);
    assert_false(address_block_refuses(&a, ADDRESS_BLOCK_WINDOW_MS + 3));
    assert_int_equal(address_block_strike(&a, ADDRESS_BLOCK_WINDOW_MS + 4), 1);
}

static void test_off_counts_nothing(void **state)
{
    (void)state;
    address_block_configure(0);
    struct login_address a = ipv4("192.0.2.9");
    for (int i = 0; i < 10; i++)
        assert_int_equal(address_block_strike(&a, 1000 + (uint64_t)i), 0);
    assert_false(address_block_tracking());
    assert_false(address_block_refuses(&a, 2000));
}

static void test_unknown_address_is_never_blocked(void **state)
{
    (void)state;
    struct login_address unknown;
    memset(&unknown, 0, sizeof unknown);
    for (int i = 0; i < 5; i++)
        assert_int_equal(address_block_strike(&unknown, 1000), 0);
    assert_false(address_block_refuses(&unknown, 1000));
}

static void test_capacity_is_fixed_and_blocks_outlive_strikes(void **state)
{
    (void)state;
    struct login_address blocked = ipv4("203.0.113.1");
    for (int i = 0; i < ADDRESS_BLOCK_STRIKES; i++)
        address_block_strike(&blocked, 1000);
    assert_true(address_block_refuses(&blocked, 1000));
    /* a flood of new addresses with one strike each (window ends at t+60 s)
     * evicts entries that end first, not the block (ends at 31 s + window) */
    char text[32];
    for (int i = 0; i < 4 * ADDRESS_BLOCK_CAPACITY; i++) {
        snprintf(text, sizeof text, "10.%d.%d.1", i / 256, i % 256);
        struct login_address other = ipv4(text);
        address_block_strike(&other, 1000);
    }
    assert_true(address_block_refuses(&blocked, 2000));
    /* and once everything ended, nothing is refused */
    assert_false(address_block_refuses(&blocked, 1000 + 30000 + ADDRESS_BLOCK_WINDOW_MS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_third_strike_blocks_for_the_duration, setup),
        cmocka_unit_test_setup(test_strikes_expire_with_the_window, setup),
        cmocka_unit_test_setup(test_off_counts_nothing, setup),
        cmocka_unit_test_setup(test_unknown_address_is_never_blocked, setup),
        cmocka_unit_test_setup(test_capacity_is_fixed_and_blocks_outlive_strikes, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
