/* Unit tests for src/observe/systemd_notify.h: datagrams received on a socket of our
 * own, standing in for systemd's, at a path and in the abstract namespace. */
#include "test_support.h"

#include <errno.h>
#include <inttypes.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "layout/error.h"
#include "src/observe/systemd_notify.h"

struct listener {
    char *directory;
    int descriptor;
};

/* A datagram socket bound at `address` ("/path" or "@name"); a receive
 * timeout keeps a missing datagram from hanging the test. */
static int bind_listener(const char *address)
{
    int descriptor = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(descriptor >= 0);
    struct sockaddr_un socket_address = {.sun_family = AF_UNIX};
    size_t length = strlen(address);
    assert_true(length < sizeof socket_address.sun_path);
    memcpy(socket_address.sun_path, address, length);
    if (address[0] == '@')
        socket_address.sun_path[0] = '\0';
    socklen_t address_length =
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length + (address[0] == '/'));
    assert_int_equal(bind(descriptor, (struct sockaddr *)&socket_address, address_length), 0);
    struct timeval timeout = {.tv_sec = 2};
    assert_int_equal(setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout), 0);
    return descriptor;
}

static void receive(int descriptor, char *buffer, size_t size)
{
    ssize_t got = recv(descriptor, buffer, size - 1, 0);
    assert_true(got > 0);
    buffer[got] = '\0';
}

static void assert_nothing_pending(int descriptor)
{
    char buffer[16];
    assert_int_equal(recv(descriptor, buffer, sizeof buffer, MSG_DONTWAIT), -1);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static void check_protocol(int descriptor)
{
    char buffer[2048];
    assert_int_equal(systemd_notify_ready(), 0);
    receive(descriptor, buffer, sizeof buffer);
    assert_string_equal(buffer, "READY=1");

    struct timespec before, after;
    clock_gettime(CLOCK_MONOTONIC, &before);
    assert_int_equal(systemd_notify_reloading(), 0);
    clock_gettime(CLOCK_MONOTONIC, &after);
    receive(descriptor, buffer, sizeof buffer);
    assert_memory_equal(buffer, "RELOADING=1\nMONOTONIC_USEC=", 27);
    char *end;
    uint64_t microseconds = strtoull(buffer + 27, &end, 10);
    assert_int_equal(*end, '\0');
    assert_true(microseconds >= (uint64_t)before.tv_sec * 1000000u + before.tv_nsec / 1000);
    assert_true(microseconds <= (uint64_t)after.tv_sec * 1000000u + after.tv_nsec / 1000);

    assert_int_equal(systemd_notify_stopping(), 0);
    receive(descriptor, buffer, sizeof buffer);
    assert_string_equal(buffer, "STOPPING=1");

    assert_int_equal(systemd_notify_status("serving on %s\nnext", "127.0.0.1:5000"), 0);
    receive(descriptor, buffer, sizeof buffer);
    assert_string_equal(buffer, "STATUS=serving on 127.0.0.1:5000 next");

    /* A long status is cut, not refused. */
    char long_text[3000];
    memset(long_text, 's', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    assert_int_equal(systemd_notify_status("%s", long_text), 0);
    receive(descriptor, buffer, sizeof buffer);
    assert_int_equal(strlen(buffer), 7 + 1024);

    assert_int_equal(systemd_notify("READY=1\nSTATUS=x"), 0);
    receive(descriptor, buffer, sizeof buffer);
    assert_string_equal(buffer, "READY=1\nSTATUS=x");
    assert_nothing_pending(descriptor);
}

static void test_path_socket(void **state)
{
    (void)state;
    char *directory = support_root_create();
    char path[PATH_MAX];
    support_path(path, "%s/notify", directory);
    int descriptor = bind_listener(path);
    assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);
    check_protocol(descriptor);
    unsetenv("NOTIFY_SOCKET");
    close(descriptor);
    unlink(path);
    support_root_remove(directory);
}

static void test_abstract_socket(void **state)
{
    (void)state;
    char address[64];
    snprintf(address, sizeof address, "@cairn-test-notify-%ld", (long)getpid());
    int descriptor = bind_listener(address);
    assert_int_equal(setenv("NOTIFY_SOCKET", address, 1), 0);
    check_protocol(descriptor);
    unsetenv("NOTIFY_SOCKET");
    close(descriptor);
}

static void test_unset(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(systemd_notify_ready(), 1);
    assert_int_equal(systemd_notify_reloading(), 1);
    assert_int_equal(systemd_notify_stopping(), 1);
    assert_int_equal(systemd_notify_status("x"), 1);
    assert_int_equal(setenv("NOTIFY_SOCKET", "", 1), 0);
    assert_int_equal(systemd_notify_ready(), 1);
    unsetenv("NOTIFY_SOCKET");
}

static void test_errors(void **state)
{
    (void)state;
    assert_int_equal(setenv("NOTIFY_SOCKET", "relative/notify", 1), 0);
    assert_int_equal(systemd_notify_ready(), -EINVAL);
    assert_non_null(strstr(error_message(), "NOTIFY_SOCKET"));

    char long_path[200];
    memset(long_path, 'x', sizeof long_path - 1);
    long_path[0] = '/';
    long_path[sizeof long_path - 1] = '\0';
    assert_int_equal(setenv("NOTIFY_SOCKET", long_path, 1), 0);
    assert_int_equal(systemd_notify_ready(), -ENAMETOOLONG);

    /* Nobody listening: an error for the caller to log, nothing more. */
    char *directory = support_root_create();
    char path[PATH_MAX];
    support_path(path, "%s/absent", directory);
    assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);
    assert_int_equal(systemd_notify_ready(), -ENOENT);
    assert_non_null(strstr(error_message(), "sendto"));
    unsetenv("NOTIFY_SOCKET");
    support_root_remove(directory);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_socket),
        cmocka_unit_test(test_abstract_socket),
        cmocka_unit_test(test_unset),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
