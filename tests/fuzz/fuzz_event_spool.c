/* tests/fuzz/fuzz_event_spool.c — event_spool_open() over any segment file
 * (src/observe/event_spool.h: what a crash or a damaged disk can leave):
 * it opens or refuses with an error, never crashes; once open, every event
 * it counts reads back as one line, and an append after them reads back. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout/atomic_file.h"
#include "src/observe/event_spool.h"
#include "tests/fuzz/fuzz_support.h"

static char root[64];

static void remove_root(void)
{
    directory_remove_tree(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (root[0] == '\0') {
        snprintf(root, sizeof root, "/tmp/cairn-fuzz-spool-XXXXXX");
        if (mkdtemp(root) == NULL)
            return 0;
        atexit(remove_root);
    }
    char spool_path[128], queue[160], segment[224];
    snprintf(spool_path, sizeof spool_path, "%s/spool", root);
    directory_remove_tree(spool_path);
    snprintf(queue, sizeof queue, "%s/queue", spool_path);
    if (directory_create(queue) < 0)
        return 0;
    snprintf(segment, sizeof segment, "%s/00000000000000000001.events", queue);
    FILE *file = fopen(segment, "w");
    if (file == NULL)
        return 0;
    fwrite(data, 1, size, file);
    fclose(file);

    /* Lines the spool must find: every newline-terminated one. */
    uint64_t lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';

    struct event_spool *spool = NULL;
    int opened = event_spool_open(spool_path, 1 << 20, 0, &spool);
    if (opened < 0)
        return 0;
    FUZZ_CHECK(event_spool_end(spool) == 1 + lines);
    for (uint64_t sequence = 1; sequence <= lines; sequence++) {
        char *event = NULL;
        size_t length = 0;
        FUZZ_CHECK(event_spool_read(spool, sequence, &event, &length) == 1);
        FUZZ_CHECK(memchr(event, '\n', length) == NULL && strlen(event) <= length);
        free(event);
    }
    uint64_t sequence = 0;
    FUZZ_CHECK(event_spool_append(spool, "{\"after\":1}", 11, 0, &sequence) == 0);
    FUZZ_CHECK(sequence == 1 + lines);
    char *event = NULL;
    size_t length = 0;
    FUZZ_CHECK(event_spool_read(spool, sequence, &event, &length) == 1);
    FUZZ_CHECK(length == 11 && memcmp(event, "{\"after\":1}", 11) == 0);
    free(event);
    event_spool_close(spool);
    return 0;
}
