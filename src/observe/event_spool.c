/* src/observe/event_spool.c — see event_spool.h. */
#include "src/observe/event_spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "layout/atomic_file.h"
#include "layout/error.h"

#define PATH_MAX_SPOOL 4096

struct segment {
    uint64_t first;    /* sequence number of its first event */
    uint64_t count;    /* events in it */
    uint64_t *offsets; /* count + 1 offsets: each line's start, then the end */
    size_t capacity;   /* of offsets */
    int fd;            /* read and (the last segment) appended to */
    time_t modified;   /* last append (or the file's mtime at open) */
};

struct event_spool {
    pthread_mutex_t lock;
    pthread_cond_t synced_changed;
    char directory[PATH_MAX_SPOOL];
    int lock_fd;
    uint64_t max_bytes;
    uint64_t max_age_seconds;
    uint64_t segment_limit;
    struct segment *segments; /* oldest first; the last is written */
    size_t segment_count;
    uint64_t end;    /* the next sequence number */
    uint64_t synced; /* every event below this+1 is on disk */
    int syncing;
};

static int path_join(char *out, const char *directory, const char *name)
{
    int n = snprintf(out, PATH_MAX_SPOOL, "%s/%s", directory, name);
    if (n < 0 || n >= PATH_MAX_SPOOL)
        return error_set(-ENAMETOOLONG, "event spool path too long: %s/%s", directory, name);
    return 0;
}

static int segment_path(const struct event_spool *spool, uint64_t first, char *out)
{
    char name[64];
    snprintf(name, sizeof name, "queue/%020" PRIu64 ".events", first);
    return path_join(out, spool->directory, name);
}

static int offsets_push(struct segment *segment, uint64_t offset)
{
    if (segment->count + 1 >= segment->capacity) {
        size_t capacity = segment->capacity == 0 ? 256 : segment->capacity * 2;
        uint64_t *grown = realloc(segment->offsets, capacity * sizeof *grown);
        if (grown == NULL)
            return error_set(-ENOMEM, "out of memory");
        segment->offsets = grown;
        segment->capacity = capacity;
    }
    segment->offsets[segment->count + 1] = offset;
    return 0;
}

/* Reads a segment's lines into its offsets; a partial last line (an append
 * that was cut short) is cut off when `last`. */
static int segment_load(struct segment *segment, const char *path, int last)
{
    struct stat status;
    if (fstat(segment->fd, &status) < 0)
        return error_set(-errno, "cannot stat %s: %s", path, strerror(errno));
    segment->modified = status.st_mtim.tv_sec;
    segment->capacity = 256;
    segment->offsets = calloc(segment->capacity, sizeof *segment->offsets);
    if (segment->offsets == NULL)
        return error_set(-ENOMEM, "out of memory");
    char buffer[64 * 1024];
    uint64_t position = 0, line_start = 0;
    for (;;) {
        ssize_t got = pread(segment->fd, buffer, sizeof buffer, (off_t)position);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return error_set(-errno, "cannot read %s: %s", path, strerror(errno));
        if (got == 0)
            break;
        for (ssize_t i = 0; i < got; i++)
            if (buffer[i] == '\n') {
                line_start = position + (uint64_t)i + 1;
                int result = offsets_push(segment, line_start);
                if (result < 0)
                    return result;
                segment->count++;
            }
        position += (uint64_t)got;
    }
    if (line_start < position) {
        (void)last; /* only a crash mid-append leaves one, in the last segment */
        if (ftruncate(segment->fd, (off_t)line_start) < 0)
            return error_set(-EIO, "%s ends in a partial event", path);
    }
    return 0;
}

static void segment_release(struct segment *segment)
{
    if (segment->fd >= 0)
        close(segment->fd);
    free(segment->offsets);
}

static int compare_firsts(const void *a, const void *b)
{
    const struct segment *left = a, *right = b;
    return left->first < right->first ? -1 : left->first > right->first;
}

static int read_position_file(const char *path, uint64_t *out)
{
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return -errno;
    unsigned long long value = 0;
    int matched = fscanf(file, "%llu", &value);
    fclose(file);
    if (matched != 1 || value == 0)
        return -EINVAL;
    *out = value;
    return 0;
}

/* The highest position any endpoint recorded: numbering goes on from there
 * when the queue is empty, so that no endpoint's position is ahead. */
static uint64_t highest_position(const struct event_spool *spool)
{
    char path[PATH_MAX_SPOOL];
    uint64_t highest = 1;
    if (path_join(path, spool->directory, "endpoints") < 0)
        return highest;
    DIR *directory = opendir(path);
    if (directory == NULL)
        return highest;
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        size_t length = strlen(entry->d_name);
        if (length < 10 || strcmp(entry->d_name + length - 9, ".position") != 0)
            continue;
        char file[PATH_MAX_SPOOL * 2];
        snprintf(file, sizeof file, "%s/%s", path, entry->d_name);
        uint64_t value = 0;
        if (read_position_file(file, &value) == 0 && value > highest)
            highest = value;
    }
    closedir(directory);
    return highest;
}

/* Under the lock (or at open): starts a new segment at spool->end, durably
 * (the file, then the directory entry). */
static int start_segment(struct event_spool *spool)
{
    struct segment *grown =
        realloc(spool->segments, (spool->segment_count + 1) * sizeof *spool->segments);
    if (grown == NULL)
        return error_set(-ENOMEM, "out of memory");
    spool->segments = grown;
    struct segment *segment = &spool->segments[spool->segment_count];
    memset(segment, 0, sizeof *segment);
    segment->first = spool->end;
    segment->modified = time(NULL);
    char path[PATH_MAX_SPOOL], queue[PATH_MAX_SPOOL];
    int result = segment_path(spool, segment->first, path);
    if (result == 0)
        result = path_join(queue, spool->directory, "queue");
    if (result < 0)
        return result;
    segment->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (segment->fd < 0)
        return error_set(-errno, "cannot create %s: %s", path, strerror(errno));
    segment->capacity = 256;
    segment->offsets = calloc(segment->capacity, sizeof *segment->offsets);
    if (segment->offsets == NULL) {
        close(segment->fd);
        return error_set(-ENOMEM, "out of memory");
    }
    if ((result = directory_sync(queue)) < 0) {
        segment_release(segment);
        return result;
    }
    spool->segment_count++;
    return 0;
}

static int make_directories(const char *directory)
{
    char path[PATH_MAX_SPOOL];
    int result = directory_create(directory);
    if (result == 0 && (result = path_join(path, directory, "queue")) == 0)
        result = directory_create(path);
    if (result == 0 && (result = path_join(path, directory, "endpoints")) == 0)
        result = directory_create(path);
    return result;
}

static int load_segments(struct event_spool *spool)
{
    char path[PATH_MAX_SPOOL];
    int result = path_join(path, spool->directory, "queue");
    if (result < 0)
        return result;
    DIR *directory = opendir(path);
    if (directory == NULL)
        return error_set(-errno, "cannot read %s: %s", path, strerror(errno));
    struct dirent *entry;
    while (result == 0 && (entry = readdir(directory)) != NULL) {
        char *end = NULL;
        errno = 0;
        unsigned long long first = strtoull(entry->d_name, &end, 10);
        if (end == entry->d_name || strcmp(end, ".events") != 0 || first == 0 || errno != 0)
            continue;
        struct segment *grown =
            realloc(spool->segments, (spool->segment_count + 1) * sizeof *spool->segments);
        if (grown == NULL) {
            result = error_set(-ENOMEM, "out of memory");
            break;
        }
        spool->segments = grown;
        struct segment *segment = &spool->segments[spool->segment_count];
        memset(segment, 0, sizeof *segment);
        segment->first = first;
        segment->fd = -1;
        spool->segment_count++;
    }
    closedir(directory);
    if (result < 0)
        return result;
    if (spool->segment_count > 1)
        qsort(spool->segments, spool->segment_count, sizeof *spool->segments, compare_firsts);
    for (size_t i = 0; i < spool->segment_count && result == 0; i++) {
        struct segment *segment = &spool->segments[i];
        if ((result = segment_path(spool, segment->first, path)) < 0)
            break;
        segment->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
        if (segment->fd < 0) {
            result = error_set(-errno, "cannot open %s: %s", path, strerror(errno));
            break;
        }
        result = segment_load(segment, path, i + 1 == spool->segment_count);
    }
    return result;
}

int event_spool_open(const char *directory, uint64_t max_bytes, uint64_t max_age_seconds,
                     struct event_spool **spool_out)
{
    struct event_spool *spool = calloc(1, sizeof *spool);
    if (spool == NULL)
        return error_set(-ENOMEM, "out of memory");
    spool->lock_fd = -1;
    snprintf(spool->directory, sizeof spool->directory, "%s", directory);
    spool->max_bytes = max_bytes;
    spool->max_age_seconds = max_age_seconds;
    spool->segment_limit = EVENT_SPOOL_SEGMENT_BYTES;
    if (max_bytes > 0 && max_bytes / 16 < spool->segment_limit)
        spool->segment_limit = max_bytes / 16 < 64 * 1024 ? 64 * 1024 : max_bytes / 16;
    pthread_mutex_init(&spool->lock, NULL);
    pthread_cond_init(&spool->synced_changed, NULL);
    char path[PATH_MAX_SPOOL];
    int result = make_directories(directory);
    if (result == 0)
        result = path_join(path, directory, "lock");
    if (result == 0) {
        spool->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
        if (spool->lock_fd < 0)
            result = error_set(-errno, "cannot open %s: %s", path, strerror(errno));
        else if (flock(spool->lock_fd, LOCK_EX | LOCK_NB) < 0)
            result = errno == EWOULDBLOCK
                         ? error_set(-EBUSY,
                                     "the event spool %s is in use by another cairn: give each "
                                     "server its own cairn.events.spool",
                                     directory)
                         : error_set(-errno, "cannot lock %s: %s", path, strerror(errno));
    }
    if (result == 0)
        result = load_segments(spool);
    if (result == 0) {
        if (spool->segment_count > 0) {
            const struct segment *last = &spool->segments[spool->segment_count - 1];
            spool->end = last->first + last->count;
        } else {
            spool->end = highest_position(spool);
            result = start_segment(spool);
        }
        spool->synced = spool->end - 1;
    }
    if (result < 0) {
        event_spool_close(spool);
        return result;
    }
    *spool_out = spool;
    return 0;
}

void event_spool_close(struct event_spool *spool)
{
    if (spool == NULL)
        return;
    for (size_t i = 0; i < spool->segment_count; i++)
        segment_release(&spool->segments[i]);
    free(spool->segments);
    if (spool->lock_fd >= 0)
        close(spool->lock_fd);
    pthread_mutex_destroy(&spool->lock);
    pthread_cond_destroy(&spool->synced_changed);
    free(spool);
}

static struct segment *current(struct event_spool *spool)
{
    return &spool->segments[spool->segment_count - 1];
}

int event_spool_append(struct event_spool *spool, const char *event, size_t length, int durable,
                       uint64_t *sequence_out)
{
    if (length == 0 || length > EVENT_SPOOL_EVENT_MAX || memchr(event, '\n', length) != NULL)
        return error_set(-EINVAL, "an event must be one line of at most %d bytes",
                         EVENT_SPOOL_EVENT_MAX);
    pthread_mutex_lock(&spool->lock);
    int result = 0;
    struct segment *segment = current(spool);
    if (segment->offsets[segment->count] >= spool->segment_limit) {
        /* The old segment complete on disk first: `synced` then covers it. */
        if (fdatasync(segment->fd) < 0)
            result = error_set(-errno, "cannot sync an event segment: %s", strerror(errno));
        else
            spool->synced = spool->end - 1;
        if (result == 0)
            result = start_segment(spool);
        segment = current(spool);
    }
    uint64_t offset = segment->offsets[segment->count];
    if (result == 0)
        result = offsets_push(segment, offset + length + 1);
    if (result == 0) {
        struct iovec parts[2] = {{(void *)event, length}, {"\n", 1}};
        ssize_t written = writev(segment->fd, parts, 2);
        if (written != (ssize_t)(length + 1)) {
            result = error_set(written < 0 ? -errno : -EIO, "cannot write an event: %s",
                               written < 0 ? strerror(errno) : "short write");
            if (written > 0 && ftruncate(segment->fd, (off_t)offset) < 0)
                result = error_set(-EIO, "an event segment holds a partial event");
        }
    }
    if (result < 0) {
        pthread_mutex_unlock(&spool->lock);
        return result;
    }
    uint64_t sequence = spool->end++;
    segment->count++;
    segment->modified = time(NULL);
    if (sequence_out != NULL)
        *sequence_out = sequence;
    while (durable && spool->synced < sequence && result == 0) {
        if (spool->syncing) {
            pthread_cond_wait(&spool->synced_changed, &spool->lock);
            continue;
        }
        /* This thread syncs for every event appended so far. */
        spool->syncing = 1;
        uint64_t target = spool->end - 1;
        int fd = current(spool)->fd;
        pthread_mutex_unlock(&spool->lock);
        int synced = fdatasync(fd);
        int code = errno;
        pthread_mutex_lock(&spool->lock);
        spool->syncing = 0;
        if (synced == 0 && target > spool->synced)
            spool->synced = target;
        else if (synced < 0)
            result = error_set(-code, "cannot sync the event spool: %s", strerror(code));
        pthread_cond_broadcast(&spool->synced_changed);
    }
    pthread_mutex_unlock(&spool->lock);
    return result;
}

uint64_t event_spool_end(struct event_spool *spool)
{
    pthread_mutex_lock(&spool->lock);
    uint64_t end = spool->end;
    pthread_mutex_unlock(&spool->lock);
    return end;
}

uint64_t event_spool_oldest(struct event_spool *spool)
{
    pthread_mutex_lock(&spool->lock);
    uint64_t oldest = spool->segments[0].first;
    pthread_mutex_unlock(&spool->lock);
    return oldest;
}

/* endpoints/<name>.position, the name hex-escaped where it is not
 * [A-Za-z0-9._-] (so no name makes another path). */
static int position_path(const struct event_spool *spool, const char *endpoint, char *out)
{
    char name[3 * 256 + 32] = "endpoints/";
    size_t used = strlen(name);
    for (const char *c = endpoint; *c != '\0' && used + 4 < sizeof name - 16; c++) {
        unsigned char byte = (unsigned char)*c;
        if ((byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') ||
            (byte >= '0' && byte <= '9') || byte == '-' || byte == '_' ||
            (byte == '.' && c != endpoint))
            name[used++] = (char)byte;
        else
            used += (size_t)snprintf(name + used, 4, "%%%02X", byte);
    }
    snprintf(name + used, sizeof name - used, ".position");
    return path_join(out, spool->directory, name);
}

int event_spool_set_position(struct event_spool *spool, const char *endpoint, uint64_t next)
{
    char path[PATH_MAX_SPOOL], text[32];
    int result = position_path(spool, endpoint, path);
    if (result < 0)
        return result;
    int length = snprintf(text, sizeof text, "%" PRIu64 "\n", next);
    return atomic_file_write_scratch(path, text, (size_t)length);
}

uint64_t event_spool_position(struct event_spool *spool, const char *endpoint)
{
    char path[PATH_MAX_SPOOL];
    uint64_t next = 0;
    int read = position_path(spool, endpoint, path);
    if (read == 0)
        read = read_position_file(path, &next);
    if (read == 0)
        return next;
    /* A position file that is there but unreadable (a crash of the whole
     * machine can leave it empty): from the oldest event kept, at least
     * once rather than never. */
    next = read == -ENOENT ? event_spool_end(spool) : event_spool_oldest(spool);
    event_spool_set_position(spool, endpoint, next);
    return next;
}

void event_spool_forget(struct event_spool *spool, const char *endpoint)
{
    char path[PATH_MAX_SPOOL];
    if (position_path(spool, endpoint, path) == 0)
        unlink(path);
}

/* Under the lock: the segment holding `sequence`, or NULL. */
static struct segment *find_segment(struct event_spool *spool, uint64_t sequence)
{
    size_t low = 0, high = spool->segment_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        struct segment *segment = &spool->segments[middle];
        if (sequence < segment->first)
            high = middle;
        else if (sequence >= segment->first + segment->count)
            low = middle + 1;
        else
            return segment;
    }
    return NULL;
}

int event_spool_read(struct event_spool *spool, uint64_t sequence, char **event_out,
                     size_t *length_out)
{
    pthread_mutex_lock(&spool->lock);
    if (sequence >= spool->end) {
        pthread_mutex_unlock(&spool->lock);
        return 0;
    }
    struct segment *segment = find_segment(spool, sequence);
    if (segment == NULL) {
        pthread_mutex_unlock(&spool->lock);
        return -ENOENT;
    }
    uint64_t index = sequence - segment->first;
    uint64_t start = segment->offsets[index], length = segment->offsets[index + 1] - start - 1;
    char *event = malloc(length + 1);
    int result = event == NULL ? error_set(-ENOMEM, "out of memory") : 0;
    for (uint64_t got = 0; result == 0 && got < length;) {
        ssize_t n = pread(segment->fd, event + got, length - got, (off_t)(start + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            result = error_set(n < 0 ? -errno : -EIO, "cannot read the event spool: %s",
                               n < 0 ? strerror(errno) : "short segment");
        else
            got += (uint64_t)n;
    }
    pthread_mutex_unlock(&spool->lock);
    if (result < 0) {
        free(event);
        return result;
    }
    event[length] = '\0';
    *event_out = event;
    *length_out = length;
    return 1;
}

uint64_t event_spool_bound(struct event_spool *spool, uint64_t next, uint64_t *dropped_out)
{
    *dropped_out = 0;
    pthread_mutex_lock(&spool->lock);
    time_t now = time(NULL);
    if (next < spool->segments[0].first) { /* removed while it lagged */
        *dropped_out += spool->segments[0].first - next;
        next = spool->segments[0].first;
    }
    for (;;) {
        struct segment *segment = find_segment(spool, next);
        if (segment == NULL || segment == current(spool))
            break;
        uint64_t backlog = 0;
        for (struct segment *s = segment; s <= current(spool); s++)
            backlog += s->offsets[s->count] - (s == segment ? s->offsets[next - s->first] : 0);
        int too_big = spool->max_bytes > 0 && backlog > spool->max_bytes;
        int too_old = spool->max_age_seconds > 0 &&
                      (uint64_t)(now - segment->modified) > spool->max_age_seconds;
        if (!too_big && !too_old)
            break;
        uint64_t past = segment->first + segment->count;
        *dropped_out += past - next;
        next = past;
    }
    pthread_mutex_unlock(&spool->lock);
    return next;
}

void event_spool_trim(struct event_spool *spool, const uint64_t *positions, size_t count)
{
    pthread_mutex_lock(&spool->lock);
    uint64_t lowest = spool->end;
    for (size_t i = 0; i < count; i++)
        if (positions[i] < lowest)
            lowest = positions[i];
    size_t removed = 0;
    /* Never the written segment; not while a sync may use an old one's fd. */
    while (!spool->syncing && removed + 1 < spool->segment_count) {
        struct segment *segment = &spool->segments[removed];
        if (segment->first + segment->count > lowest)
            break;
        char path[PATH_MAX_SPOOL];
        if (segment_path(spool, segment->first, path) == 0)
            unlink(path);
        segment_release(segment);
        removed++;
    }
    if (removed > 0) {
        memmove(spool->segments, spool->segments + removed,
                (spool->segment_count - removed) * sizeof *spool->segments);
        spool->segment_count -= removed;
    }
    pthread_mutex_unlock(&spool->lock);
}
