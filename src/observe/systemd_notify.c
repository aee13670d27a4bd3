/* src/observe/systemd_notify.c — one AF_UNIX datagram per notification. */
#include "src/observe/systemd_notify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "layout/error.h"

int systemd_notify(const char *state)
{
    const char *address = getenv("NOTIFY_SOCKET");
    if (address == NULL || address[0] == '\0')
        return 1;
    if (state == NULL)
        return error_set(-EINVAL, "sd_notify: no state");

    struct sockaddr_un socket_address;
    memset(&socket_address, 0, sizeof socket_address);
    socket_address.sun_family = AF_UNIX;
    size_t length = strlen(address);
    if (address[0] != '/' && address[0] != '@')
        return error_set(-EINVAL, "sd_notify: NOTIFY_SOCKET=%s is neither a path nor '@name'",
                         address);
    if (length > sizeof socket_address.sun_path - (address[0] == '/' ? 1 : 0))
        return error_set(-ENAMETOOLONG, "sd_notify: NOTIFY_SOCKET is too long (%zu bytes)", length);
    memcpy(socket_address.sun_path, address, length);
    if (address[0] == '@')
        socket_address.sun_path[0] = '\0'; /* abstract: the name is the bytes that follow */
    /* A path is NUL-terminated; an abstract name is exactly its length. */
    socklen_t address_length =
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length + (address[0] == '/' ? 1 : 0));

    int descriptor = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (descriptor < 0) {
        int code = errno;
        return error_set(-code, "sd_notify: socket: %s", strerror(code));
    }
    size_t state_length = strlen(state);
    ssize_t sent;
    do {
        sent = sendto(descriptor, state, state_length, MSG_NOSIGNAL,
                      (const struct sockaddr *)&socket_address, address_length);
    } while (sent < 0 && errno == EINTR);
    int code = sent < 0 ? errno : 0;
    close(descriptor);
    if (sent < 0)
        return error_set(-code, "sd_notify: sendto %s: %s", address, strerror(code));
    if ((size_t)sent != state_length)
        return error_set(-EMSGSIZE, "sd_notify: sent %zd of %zu bytes", sent, state_length);
    return 0;
}

int systemd_notify_ready(void)
{
    return systemd_notify("READY=1");
}

int systemd_notify_reloading(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    char state[64];
    snprintf(state, sizeof state, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
             (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u);
    return systemd_notify(state);
}

int systemd_notify_stopping(void)
{
    return systemd_notify("STOPPING=1");
}

int systemd_notify_status(const char *format, ...)
{
    char state[1024 + 8] = "STATUS=";
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(state + 7, sizeof state - 7, format, arguments);
    va_end(arguments);
    for (char *c = state + 7; *c != '\0'; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    return systemd_notify(state);
}
