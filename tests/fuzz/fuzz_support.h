/*
 * tests/fuzz/fuzz_support.h — what the fuzz targets share.
 *
 * Each tests/fuzz/fuzz_<parser>.c is one libFuzzer target: it defines
 * LLVMFuzzerTestOneInput, feeds the bytes to one parser the way cairn does
 * (from the network or from the disk) and checks what must hold whatever the
 * bytes (FUZZ_CHECK: a broken invariant is a crash, which libFuzzer reports
 * with the input that caused it). Parsers that read a file get it through
 * fuzz_file_open(): an anonymous in-memory file (memfd) named by its
 * /proc/self/fd path, so a run never touches the disk.
 */
#ifndef CAIRN_TESTS_FUZZ_FUZZ_SUPPORT_H
#define CAIRN_TESTS_FUZZ_FUZZ_SUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_CHECK(condition)                                                                      \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #condition);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Writes `size` bytes to a new memfd; its path (valid while the descriptor
 * is open) goes to `path`. Returns the descriptor (close it), or -1. */
static inline int fuzz_file_open(const uint8_t *data, size_t size, char *path, size_t path_size)
{
    int fd = memfd_create("cairn-fuzz", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t written = 0;
    while (written < size) {
        ssize_t n = write(fd, data + written, size - written);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        written += (size_t)n;
    }
    snprintf(path, path_size, "/proc/self/fd/%d", fd);
    return fd;
}

#endif
