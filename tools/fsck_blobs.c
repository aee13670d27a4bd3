/* tools/fsck_blobs.h */
#include "tools/fsck_blobs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layout/atomic_file.h"
#include "layout/error.h"
#include "tools/tool_common.h"

enum blob_status {
    BLOB_UNCHECKED,
    BLOB_SOUND,
    BLOB_CORRUPT,     /* hashes to `found` */
    BLOB_NO_DATA,     /* data missing */
    BLOB_NOT_REGULAR, /* data is a directory, symbolic link, ... */
    BLOB_UNREADABLE,  /* open or read failed: `error` */
};

struct blob_task {
    struct digest digest;
    char *directory; /* where it was found (misplaced ones too); malloc'd */
    int misplaced;
    int64_t size; /* from the walk's stat, to schedule the biggest first */
    enum blob_status status;
    struct digest found;
    int64_t hashed_bytes;
    char error[128];
};

struct task_list {
    struct blob_task *items;
    size_t count;
    size_t capacity;
};

/* Items (blobs) worked on by `jobs` threads, in a given order; each thread
 * has its own read buffer (NULL when it could not be allocated: `work` then
 * records the failure). */
struct parallel_run {
    size_t count;
    const size_t *order; /* indexes of the items, in the order to take them */
    size_t buffer_size;
    void (*work)(struct parallel_run *run, size_t item, unsigned char *buffer);
    void *context;
    const char *progress_label; /* "blobs": "verified 12/40 blobs, 2.1 GB, 1.8 GB/s" */
    atomic_size_t next;
    atomic_size_t done;
    atomic_uint_least64_t bytes; /* hashed so far, for the progress line */
    atomic_uint running;
    /* Filled by run_parallel(). */
    double seconds;
    unsigned jobs;
};

/* --- the walk ------------------------------------------------------------ */

static int task_append(struct task_list *list, const struct digest *digest, const char *directory,
                       int misplaced)
{
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 256;
        struct blob_task *items = realloc(list->items, capacity * sizeof *items);
        if (items == NULL)
            return error_set(-ENOMEM, "out of memory");
        list->items = items;
        list->capacity = capacity;
    }
    struct blob_task *task = &list->items[list->count++];
    memset(task, 0, sizeof *task);
    task->digest = *digest;
    task->directory = strdup(directory);
    if (task->directory == NULL) {
        list->count--;
        return error_set(-ENOMEM, "out of memory");
    }
    task->misplaced = misplaced;
    struct stat status;
    char data[TREE_PATH_MAX + 8];
    snprintf(data, sizeof data, "%s/data", directory);
    task->size = lstat(data, &status) == 0 ? (int64_t)status.st_size : 0;
    return 0;
}

static int join(char out[TREE_PATH_MAX], const char *path, const char *child)
{
    int length = snprintf(out, TREE_PATH_MAX, "%s/%s", path, child);
    if (length < 0 || length >= TREE_PATH_MAX)
        return error_set(-ENAMETOOLONG, "path too long under %.64s", path);
    return 0;
}

/* T/blobs/<alg>/<xx>/<hex>: every directory named by a valid digest. */
static int walk_blob_directories(const struct tree *tree, struct task_list *out)
{
    char blobs[TREE_PATH_MAX];
    struct string_list algorithms = {0};
    int result = tree_path_blobs(tree, blobs);
    if (result == 0)
        result = walk_subdirectories(blobs, &algorithms);
    for (size_t a = 0; result == 0 && a < algorithms.count; a++) {
        const char *algorithm = algorithms.items[a];
        enum digest_algorithm parsed;
        if (digest_algorithm_parse(algorithm, strlen(algorithm), &parsed) < 0)
            continue;
        char algorithm_path[TREE_PATH_MAX];
        struct string_list prefixes = {0};
        result = join(algorithm_path, blobs, algorithm);
        if (result == 0)
            result = walk_subdirectories(algorithm_path, &prefixes);
        for (size_t p = 0; result == 0 && p < prefixes.count; p++) {
            const char *prefix = prefixes.items[p];
            char prefix_path[TREE_PATH_MAX];
            struct string_list hexes = {0};
            result = join(prefix_path, algorithm_path, prefix);
            if (result == 0)
                result = walk_subdirectories(prefix_path, &hexes);
            for (size_t h = 0; result == 0 && h < hexes.count; h++) {
                const char *hex = hexes.items[h];
                char text[DIGEST_STRING_MAX + 16], directory[TREE_PATH_MAX];
                struct digest digest;
                int length = snprintf(text, sizeof text, "%s:%s", algorithm, hex);
                if (length <= 0 || length >= (int)sizeof text ||
                    digest_parse(text, (size_t)length, &digest) < 0)
                    continue; /* outside the grammar: not a blob */
                int misplaced = strlen(prefix) != 2 || memcmp(prefix, hex, 2) != 0;
                result = join(directory, prefix_path, hex);
                if (result == 0)
                    result = task_append(out, &digest, directory, misplaced);
            }
            string_list_clear(&hexes);
        }
        string_list_clear(&prefixes);
    }
    string_list_clear(&algorithms);
    return result;
}

/* --- hashing ------------------------------------------------------------- */

/* Hashes the open file; counts bytes into `progress` as it goes. */
static int hash_file(int fd, enum digest_algorithm algorithm, unsigned char *buffer,
                     struct digest *out, int64_t *bytes_out, atomic_uint_least64_t *progress)
{
    struct digest_hasher hasher;
    int result = digest_hasher_init(&hasher, algorithm);
    if (result < 0)
        return result;
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    int64_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buffer, FSCK_BLOB_READ_SIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int error = errno;
            digest_hasher_release(&hasher);
            return error_set(-error, "read failed after %lld bytes: %s", (long long)total,
                             strerror(error));
        }
        if (n == 0)
            break;
        if ((result = digest_hasher_update(&hasher, buffer, (size_t)n)) < 0) {
            digest_hasher_release(&hasher);
            return result;
        }
        total += n;
        if (progress != NULL)
            atomic_fetch_add_explicit(progress, (uint64_t)n, memory_order_relaxed);
    }
    *bytes_out = total;
    return digest_hasher_finish(&hasher, out);
}

/* Examines one blob; fills task->status (and found/hashed_bytes/error). */
static void verify_blob(struct blob_task *task, unsigned char *buffer,
                        atomic_uint_least64_t *progress)
{
    char data[TREE_PATH_MAX];
    task->hashed_bytes = 0;
    if (join(data, task->directory, "data") < 0) {
        task->status = BLOB_UNREADABLE;
        snprintf(task->error, sizeof task->error, "%s", error_message());
        return;
    }
    int fd = open(data, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int error = errno;
        if (error == ENOENT || error == ENOTDIR)
            task->status = BLOB_NO_DATA;
        else if (error == ELOOP)
            task->status = BLOB_NOT_REGULAR;
        else {
            task->status = BLOB_UNREADABLE;
            snprintf(task->error, sizeof task->error, "cannot open: %s", strerror(error));
        }
        return;
    }
    struct stat status;
    if (fstat(fd, &status) < 0 || !S_ISREG(status.st_mode)) {
        task->status = BLOB_NOT_REGULAR;
        close(fd);
        return;
    }
    int result =
        hash_file(fd, task->digest.algorithm, buffer, &task->found, &task->hashed_bytes, progress);
    close(fd);
    if (result < 0) {
        task->status = BLOB_UNREADABLE;
        snprintf(task->error, sizeof task->error, "%s", error_message());
        return;
    }
    task->status =
        digest_equal(&task->found, &task->digest) && !task->misplaced ? BLOB_SOUND : BLOB_CORRUPT;
}

static void *parallel_worker(void *argument)
{
    struct parallel_run *run = argument;
    unsigned char *buffer = malloc(run->buffer_size);
    for (;;) {
        size_t i = atomic_fetch_add(&run->next, 1);
        if (i >= run->count)
            break;
        run->work(run, run->order[i], buffer);
        atomic_fetch_add(&run->done, 1);
    }
    free(buffer);
    atomic_fetch_sub(&run->running, 1);
    return NULL;
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return tool_seconds_between(start, &now);
}

static void print_progress(const struct parallel_run *run, const struct timespec *start, int final)
{
    double seconds = seconds_since(start);
    double bytes = (double)atomic_load(&run->bytes);
    fprintf(stderr, "\rverified %zu/%zu %s, %.1f GB, %.1f GB/s\033[K%s", atomic_load(&run->done),
            run->count, run->progress_label, bytes / 1e9, seconds > 0 ? bytes / 1e9 / seconds : 0.0,
            final ? "\n" : "");
    fflush(stderr);
}

/* Runs `jobs` threads over every item of `run` (a progress line on stderr
 * with `progress`); fills run->seconds and run->jobs (threads started). */
static int run_parallel(struct parallel_run *run, unsigned jobs, int progress)
{
    if (jobs == 0)
        jobs = 1;
    pthread_t *threads = calloc(jobs, sizeof *threads);
    if (threads == NULL)
        return error_set(-ENOMEM, "out of memory");
    atomic_init(&run->next, 0);
    atomic_init(&run->done, 0);
    atomic_init(&run->bytes, 0);
    atomic_init(&run->running, 0);

    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    unsigned started = 0;
    int result = 0;
    for (; started < jobs; started++) {
        atomic_fetch_add(&run->running, 1);
        int error = pthread_create(&threads[started], NULL, parallel_worker, run);
        if (error != 0) {
            atomic_fetch_sub(&run->running, 1);
            if (started == 0)
                result = error_set(-error, "cannot start a thread: %s", strerror(error));
            break;
        }
    }
    if (progress && started > 0) {
        while (atomic_load(&run->running) > 0) {
            struct timespec pause = {0, 250 * 1000 * 1000};
            nanosleep(&pause, NULL);
            print_progress(run, &start, 0);
        }
        print_progress(run, &start, 1);
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    run->seconds = seconds_since(&start);
    run->jobs = started;
    free(threads);
    return result;
}

static void verify_task(struct parallel_run *run, size_t item, unsigned char *buffer)
{
    struct blob_task *task = &((struct task_list *)run->context)->items[item];
    if (buffer == NULL) {
        task->status = BLOB_UNREADABLE;
        snprintf(task->error, sizeof task->error, "out of memory");
    } else {
        verify_blob(task, buffer, &run->bytes);
    }
}

static const struct task_list *sort_tasks_context;

static int compare_by_size_descending(const void *a, const void *b)
{
    const struct blob_task *x = &sort_tasks_context->items[*(const size_t *)a];
    const struct blob_task *y = &sort_tasks_context->items[*(const size_t *)b];
    if (x->size != y->size)
        return x->size > y->size ? -1 : 1;
    return 0;
}

/* Runs the threads over every task; fills report counters. */
static int verify_all(struct fsck_context *context, struct task_list *tasks)
{
    size_t *order = malloc((tasks->count ? tasks->count : 1) * sizeof *order);
    if (order == NULL)
        return error_set(-ENOMEM, "out of memory");
    for (size_t i = 0; i < tasks->count; i++)
        order[i] = i;
    sort_tasks_context = tasks;
    qsort(order, tasks->count, sizeof *order, compare_by_size_descending);
    sort_tasks_context = NULL;
    struct parallel_run run = {.count = tasks->count,
                               .order = order,
                               .buffer_size = FSCK_BLOB_READ_SIZE,
                               .work = verify_task,
                               .context = tasks,
                               .progress_label = "blobs"};
    int result = run_parallel(&run, context->options->jobs, context->options->progress);
    context->report->blob_seconds = run.seconds;
    context->report->jobs = run.jobs;
    context->report->blob_bytes = atomic_load(&run.bytes);
    free(order);
    return result;
}

/* --- quarantine and repairs ---------------------------------------------- */

int fsck_blob_quarantine(const struct tree *tree, const char *data_path,
                         const struct digest *digest, long long now, const char *reason,
                         char out[TREE_PATH_MAX])
{
    char quarantine[TREE_PATH_MAX], directory[TREE_PATH_MAX];
    int result = tree_path_quarantine_directory(tree, quarantine);
    if (result < 0 ||
        (result = join(directory, quarantine, digest_algorithm_name(digest->algorithm))) < 0 ||
        (result = directory_create(directory)) < 0)
        return result;
    /* A free name: <hex>.<now>, else <hex>.<now>-1, -2, ... */
    for (int attempt = 0;; attempt++) {
        int length = attempt == 0 ? snprintf(out, TREE_PATH_MAX, "%s/%s.%lld", directory,
                                             digest_hex(digest), now)
                                  : snprintf(out, TREE_PATH_MAX, "%s/%s.%lld-%d", directory,
                                             digest_hex(digest), now, attempt);
        if (length < 0 || length >= TREE_PATH_MAX - 8)
            return error_set(-ENAMETOOLONG, "quarantine path too long");
        struct stat status;
        if (lstat(out, &status) < 0 && errno == ENOENT)
            break;
        if (attempt > 1000)
            return error_set(-EEXIST, "no free name in %s", directory);
    }
    if (rename(data_path, out) < 0) {
        int error = errno;
        if (error == EXDEV)
            return error_set(-EXDEV,
                             "cannot move %s into the quarantine %s: another file system "
                             "(cairn-fsck never copies blob data)",
                             data_path, quarantine);
        return error_set(-error, "cannot move %s to %s: %s", data_path, out, strerror(error));
    }
    /* The blob is moved: what follows is best effort and never turns the
     * move into a failure (the caller would report a moved blob as still
     * in place). */
    (void)directory_sync(directory);
    (void)directory_sync_parent(data_path);
    char reason_path[TREE_PATH_MAX];
    if (snprintf(reason_path, sizeof reason_path, "%s.reason", out) >= (int)sizeof reason_path)
        return 0;
    char text[2 * TREE_PATH_MAX + 512];
    int length =
        snprintf(text, sizeof text, "blob: %s\nfrom: %s\nquarantined-at: %lld\nreason: %s\n",
                 digest->string, data_path, now, reason);
    if (length < 0)
        length = 0;
    if ((size_t)length >= sizeof text)
        length = (int)sizeof text - 1;
    (void)atomic_file_write(reason_path, text, (size_t)length);
    /* The blob's directory, now empty (rmdir refuses otherwise). */
    char blob_directory[TREE_PATH_MAX];
    snprintf(blob_directory, sizeof blob_directory, "%s", data_path);
    char *slash = strrchr(blob_directory, '/');
    if (slash != NULL) {
        *slash = '\0';
        if (rmdir(blob_directory) == 0)
            (void)directory_sync_parent(blob_directory);
    }
    return 0;
}

/* Under the lock: still corrupt? Then into the quarantine. */
static int repair_corrupt(struct fsck_context *context, struct blob_task *task, const char *detail,
                          unsigned char *buffer, char quarantined[TREE_PATH_MAX])
{
    int result = fsck_repair_lock(context);
    if (result < 0)
        return result;
    struct blob_task again = *task; /* shares `directory`, freed once by the caller */
    verify_blob(&again, buffer, NULL);
    if (again.status != BLOB_CORRUPT) {
        fsck_repair_unlock(context);
        return error_set(-EAGAIN,
                         "changed meanwhile (no longer corrupt under the lock), left alone");
    }
    char data[TREE_PATH_MAX];
    result = join(data, task->directory, "data");
    if (result == 0)
        result = fsck_blob_quarantine(context->tree, data, &task->digest, context->options->now,
                                      detail, quarantined);
    fsck_repair_unlock(context);
    return result;
}

/* A blob directory without data: confirmed under the GC lock (a commit or a
 * put creates the directory just before it renames `data` in, holding the
 * lock shared), then with --repair removed if it is empty. */
static int conclude_no_data(struct fsck_context *context, struct blob_task *task, const char *data)
{
    struct fsck_report *report = context->report;
    const char *detail = "blob directory without data";
    int locked = fsck_confirm_lock(context);
    if (locked < 0)
        return fsck_report_add(report, FSCK_MISSING_BLOB_DATA, data, 0,
                               "%s; not confirmed under the GC lock: %s", detail, error_message());
    struct stat status;
    if (lstat(data, &status) == 0) {
        fsck_repair_unlock(context); /* a write in progress, now complete */
        return 0;
    }
    int repaired = 0;
    char outcome[ERROR_MESSAGE_MAX + 32] = "";
    if (context->options->repair) {
        if (rmdir(task->directory) < 0) {
            snprintf(outcome, sizeof outcome, "; not repaired: cannot remove %s: %s",
                     task->directory, strerror(errno));
        } else {
            (void)directory_sync_parent(task->directory);
            repaired = 1;
            snprintf(outcome, sizeof outcome, "; empty directory removed");
        }
    }
    fsck_repair_unlock(context);
    return fsck_report_add(report, FSCK_MISSING_BLOB_DATA, data, repaired, "%s%s", detail, outcome);
}

/* Reports one examined blob (and repairs it with --repair). */
static int conclude(struct fsck_context *context, struct blob_task *task, unsigned char *buffer)
{
    struct fsck_report *report = context->report;
    char data[TREE_PATH_MAX];
    int result = join(data, task->directory, "data");
    if (result < 0)
        return result;
    if (task->status == BLOB_SOUND || task->status == BLOB_CORRUPT)
        report->blobs_verified++; /* hashed to the end */
    switch (task->status) {
    case BLOB_SOUND:
        return digest_list_append(&report->sound_blobs, &task->digest);
    case BLOB_CORRUPT: {
        char detail[512];
        if (task->misplaced)
            snprintf(detail, sizeof detail,
                     "misplaced: blob %s is not under its fan-out directory %.2s/ (content "
                     "hashes to %s, %lld bytes)",
                     task->digest.string, digest_hex(&task->digest), task->found.string,
                     (long long)task->hashed_bytes);
        else
            snprintf(detail, sizeof detail, "content hashes to %s, %lld bytes", task->found.string,
                     (long long)task->hashed_bytes);
        if (!context->options->repair) {
            if (!task->misplaced &&
                (result = digest_list_append(&report->corrupt_blobs, &task->digest)) < 0)
                return result;
            return fsck_report_add(report, FSCK_CORRUPT_BLOB, data, 0, "%s", detail);
        }
        char quarantined[TREE_PATH_MAX];
        if (repair_corrupt(context, task, detail, buffer, quarantined) == 0)
            return fsck_report_add(report, FSCK_CORRUPT_BLOB, data, 1, "%s; moved to %s", detail,
                                   quarantined);
        if (!task->misplaced &&
            (result = digest_list_append(&report->corrupt_blobs, &task->digest)) < 0)
            return result;
        return fsck_report_add(report, FSCK_CORRUPT_BLOB, data, 0, "%s; not repaired: %s", detail,
                               error_message());
    }
    case BLOB_NO_DATA:
        return conclude_no_data(context, task, data);
    case BLOB_NOT_REGULAR:
        return fsck_report_add(report, FSCK_MISSING_BLOB_DATA, data, 0,
                               "data is not a regular file (left alone)");
    case BLOB_UNREADABLE:
        if ((result = digest_list_append(&report->corrupt_blobs, &task->digest)) < 0)
            return result;
        return fsck_report_add(report, FSCK_CORRUPT_BLOB, data, 0, "cannot verify: %s (left alone)",
                               task->error);
    case BLOB_UNCHECKED:
        break;
    }
    return error_set(-EIO, "blob %s was not verified", task->digest.string);
}

int fsck_blobs_verify(struct fsck_context *context)
{
    struct task_list tasks = {0};
    int result = walk_blob_directories(context->tree, &tasks);
    if (result == 0)
        result = verify_all(context, &tasks);
    unsigned char *buffer = NULL;
    if (result == 0 && context->options->repair && (buffer = malloc(FSCK_BLOB_READ_SIZE)) == NULL)
        result = error_set(-ENOMEM, "out of memory");
    for (size_t i = 0; result == 0 && i < tasks.count; i++)
        result = conclude(context, &tasks.items[i], buffer);
    free(buffer);
    for (size_t i = 0; i < tasks.count; i++)
        free(tasks.items[i].directory);
    free(tasks.items);
    fsck_digest_list_sort(&context->report->sound_blobs);
    fsck_digest_list_sort(&context->report->corrupt_blobs);
    return result;
}

/* --- a remote store's blobs ------------------------------------------------ */

struct remote_task {
    size_t index;            /* into report->remote.blobs */
    enum blob_status status; /* SOUND, CORRUPT, UNREADABLE, or NO_DATA: gone meanwhile */
    struct digest found;
    int64_t hashed_bytes;
    char error[ERROR_MESSAGE_MAX + 64];
};

struct remote_work {
    struct blob_store *store;
    const struct fsck_remote *remote;
    struct remote_task *tasks;
};

/* The listing's visitor: keeps what the store lists with a size (its own
 * blobs); those it keeps in the tree (info NULL) were walked in step 1. */
static int collect_listed(const struct digest *digest, const struct blob_info *info, void *context)
{
    struct fsck_remote *remote = context;
    if (info == NULL)
        return 0;
    if (remote->count == remote->capacity) {
        size_t capacity = remote->capacity ? remote->capacity * 2 : 256;
        struct fsck_remote_blob *blobs = realloc(remote->blobs, capacity * sizeof *blobs);
        if (blobs == NULL)
            return error_set(-ENOMEM, "out of memory");
        remote->blobs = blobs;
        remote->capacity = capacity;
    }
    remote->blobs[remote->count++] = (struct fsck_remote_blob){
        .digest = *digest, .size = info->size, .modified_seconds = info->modified_seconds};
    return 0;
}

static int compare_listed(const void *a, const void *b)
{
    return strcmp(((const struct fsck_remote_blob *)a)->digest.string,
                  ((const struct fsck_remote_blob *)b)->digest.string);
}

/* Lists the store into report->remote: sorted, one entry per digest. */
static int list_remote(struct fsck_context *context)
{
    struct fsck_remote *remote = &context->report->remote;
    int result = blob_store_list(context->store, collect_listed, remote);
    if (result != 0) {
        char message[ERROR_MESSAGE_MAX];
        snprintf(message, sizeof message, "%s", error_message());
        return error_set(result < 0 ? result : -EIO, "cannot list the blobs of the %s store: %s",
                         remote->store, message);
    }
    if (remote->count > 1)
        qsort(remote->blobs, remote->count, sizeof *remote->blobs, compare_listed);
    size_t kept = 0;
    for (size_t i = 0; i < remote->count; i++) {
        if (kept > 0 && digest_equal(&remote->blobs[kept - 1].digest, &remote->blobs[i].digest))
            continue;
        remote->blobs[kept++] = remote->blobs[i];
    }
    remote->count = kept;
    for (size_t i = 0; i < remote->count; i++) {
        remote->listed++;
        if (remote->blobs[i].size > 0)
            remote->listed_bytes += (uint64_t)remote->blobs[i].size;
    }
    return 0;
}

/* Re-hashes one blob through the store's reader, FSCK_REMOTE_READ_SIZE at a
 * time. */
static void verify_remote_blob(struct blob_store *store, const struct fsck_remote_blob *blob,
                               struct remote_task *task, unsigned char *buffer,
                               atomic_uint_least64_t *progress)
{
    struct blob_reader *reader = NULL;
    struct blob_info info;
    task->hashed_bytes = 0;
    int result = blob_store_open(store, &blob->digest, &reader, &info);
    if (result == -ENOENT) {
        task->status = BLOB_NO_DATA; /* removed since the listing (cairn-gc) */
        return;
    }
    if (result < 0) {
        task->status = BLOB_UNREADABLE;
        snprintf(task->error, sizeof task->error, "cannot open: %s", error_message());
        return;
    }
    struct digest_hasher hasher;
    if ((result = digest_hasher_init(&hasher, blob->digest.algorithm)) < 0) {
        blob_reader_close(reader);
        task->status = BLOB_UNREADABLE;
        snprintf(task->error, sizeof task->error, "%s", error_message());
        return;
    }
    int64_t offset = 0;
    for (;;) {
        ssize_t count = blob_reader_read(reader, buffer, FSCK_REMOTE_READ_SIZE, offset);
        if (count < 0) {
            result = (int)count;
            snprintf(task->error, sizeof task->error, "read failed after %lld bytes: %s",
                     (long long)offset, error_message());
            break;
        }
        if (count == 0)
            break;
        if ((result = digest_hasher_update(&hasher, buffer, (size_t)count)) < 0) {
            snprintf(task->error, sizeof task->error, "%s", error_message());
            break;
        }
        offset += count;
        atomic_fetch_add_explicit(progress, (uint64_t)count, memory_order_relaxed);
    }
    blob_reader_close(reader);
    if (result < 0) {
        digest_hasher_release(&hasher);
        task->status = BLOB_UNREADABLE;
        return;
    }
    if ((result = digest_hasher_finish(&hasher, &task->found)) < 0) {
        task->status = BLOB_UNREADABLE;
        snprintf(task->error, sizeof task->error, "%s", error_message());
        return;
    }
    task->hashed_bytes = offset;
    task->status = digest_equal(&task->found, &blob->digest) && offset == blob->size ? BLOB_SOUND
                                                                                     : BLOB_CORRUPT;
}

static void verify_remote_task(struct parallel_run *run, size_t item, unsigned char *buffer)
{
    struct remote_work *work = run->context;
    struct remote_task *task = &work->tasks[item];
    if (buffer == NULL) {
        task->status = BLOB_UNREADABLE;
        snprintf(task->error, sizeof task->error, "out of memory");
        return;
    }
    verify_remote_blob(work->store, &work->remote->blobs[task->index], task, buffer, &run->bytes);
}

static const struct remote_work *sort_remote_context;

static int compare_remote_by_size_descending(const void *a, const void *b)
{
    const struct remote_work *work = sort_remote_context;
    int64_t x = work->remote->blobs[work->tasks[*(const size_t *)a].index].size;
    int64_t y = work->remote->blobs[work->tasks[*(const size_t *)b].index].size;
    if (x != y)
        return x > y ? -1 : 1;
    return 0;
}

/* "s3:sha256:..." — where a blob of the store is, without a path. */
static void remote_blob_name(const struct fsck_remote *remote, const struct digest *digest,
                             char out[TREE_PATH_MAX])
{
    snprintf(out, TREE_PATH_MAX, "%s:%s", remote->store, digest->string);
}

/* Reports one re-hashed blob. Nothing is repaired: a remote store's blobs
 * are never moved or deleted. */
static int conclude_remote(struct fsck_context *context, struct remote_task *task)
{
    struct fsck_report *report = context->report;
    struct fsck_remote *remote = &report->remote;
    struct fsck_remote_blob *blob = &remote->blobs[task->index];
    char name[TREE_PATH_MAX];
    remote_blob_name(remote, &blob->digest, name);
    const char *left = context->options->repair
                           ? "; not repaired: cairn-fsck never moves or deletes a blob of a "
                             "remote store (no quarantine there)"
                           : "";
    if (task->status == BLOB_SOUND || task->status == BLOB_CORRUPT) {
        remote->verified++;
        remote->verified_bytes += (uint64_t)task->hashed_bytes;
    }
    int result;
    switch (task->status) {
    case BLOB_SOUND:
        return 0;
    case BLOB_NO_DATA:
        blob->gone = 1; /* removed since the listing: nothing to verify */
        return 0;
    case BLOB_CORRUPT:
        if ((result = digest_list_append(&report->corrupt_blobs, &blob->digest)) < 0)
            return result;
        if (digest_equal(&task->found, &blob->digest))
            return fsck_report_add(report, FSCK_CORRUPT_BLOB, name, 0,
                                   "%lld bytes read, but the store lists %lld bytes%s",
                                   (long long)task->hashed_bytes, (long long)blob->size, left);
        if (task->hashed_bytes != blob->size)
            return fsck_report_add(report, FSCK_CORRUPT_BLOB, name, 0,
                                   "content hashes to %s, %lld bytes (listed with %lld)%s",
                                   task->found.string, (long long)task->hashed_bytes,
                                   (long long)blob->size, left);
        return fsck_report_add(report, FSCK_CORRUPT_BLOB, name, 0,
                               "content hashes to %s, %lld bytes%s", task->found.string,
                               (long long)task->hashed_bytes, left);
    case BLOB_UNREADABLE:
        if ((result = digest_list_append(&report->corrupt_blobs, &blob->digest)) < 0)
            return result;
        return fsck_report_add(report, FSCK_CORRUPT_BLOB, name, 0, "cannot verify: %s (left alone)",
                               task->error);
    case BLOB_UNCHECKED:
    case BLOB_NOT_REGULAR:
        break;
    }
    return error_set(-EIO, "blob %s was not verified", blob->digest.string);
}

/* --deep: every listed blob the store serves from itself, re-hashed by
 * `jobs` threads, biggest first; then reported in digest order. */
static int verify_remote(struct fsck_context *context)
{
    struct fsck_report *report = context->report;
    struct fsck_remote *remote = &report->remote;
    struct remote_work work = {.store = context->store, .remote = remote};
    work.tasks = calloc(remote->count ? remote->count : 1, sizeof *work.tasks);
    size_t *order = malloc((remote->count ? remote->count : 1) * sizeof *order);
    if (work.tasks == NULL || order == NULL) {
        free(work.tasks);
        free(order);
        return error_set(-ENOMEM, "out of memory");
    }
    size_t count = 0;
    for (size_t i = 0; i < remote->count; i++) {
        const struct digest *digest = &remote->blobs[i].digest;
        /* A digest the tree holds too is read from the tree (the store looks
         * there first): step 1 verified those bytes. */
        if (fsck_digest_list_contains(&report->sound_blobs, digest) ||
            fsck_digest_list_contains(&report->corrupt_blobs, digest)) {
            remote->served_locally++;
            continue;
        }
        work.tasks[count].index = i;
        order[count] = count;
        count++;
    }
    sort_remote_context = &work;
    qsort(order, count, sizeof *order, compare_remote_by_size_descending);
    sort_remote_context = NULL;
    struct parallel_run run = {.count = count,
                               .order = order,
                               .buffer_size = FSCK_REMOTE_READ_SIZE,
                               .work = verify_remote_task,
                               .context = &work,
                               .progress_label = "remote blobs"};
    int result = run_parallel(&run, context->options->jobs, context->options->progress);
    remote->jobs = run.jobs;
    for (size_t i = 0; result == 0 && i < count; i++)
        result = conclude_remote(context, &work.tasks[i]);
    free(order);
    free(work.tasks);
    fsck_digest_list_sort(&report->corrupt_blobs);
    return result;
}

int fsck_blobs_verify_remote(struct fsck_context *context)
{
    struct fsck_remote *remote = &context->report->remote;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    remote->examined = 1;
    remote->deep = context->options->deep != 0;
    snprintf(remote->store, sizeof remote->store, "%s", context->store->operations->name);
    int result = list_remote(context);
    if (result == 0 && remote->deep)
        result = verify_remote(context);
    remote->seconds = seconds_since(&start);
    return result;
}
