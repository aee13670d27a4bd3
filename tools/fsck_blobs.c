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
    BLOB_NO_DATA,     /* data missing (a store's blob: gone since the listing) */
    BLOB_NOT_REGULAR, /* data is a directory, symbolic link, ... */
    BLOB_UNREADABLE,  /* open or read failed: `error` */
};

/* Where a blob of step 1 is, which says how it is read and reported. */
enum blob_source {
    BLOB_IN_TREE,  /* a directory of T/blobs: its data file, always re-hashed */
    BLOB_IN_STORE, /* kept by the store outside the tree (listed with a blob_info):
                      read through the store's reader, re-hashed with --deep */
};

struct blob_task {
    enum blob_source source;
    struct digest digest;
    char *directory; /* tree: where it was found (misplaced ones too); malloc'd */
    char *data;      /* tree: its data file; malloc'd */
    int misplaced;   /* tree */
    size_t listed;   /* store: index into report->remote.blobs */
    int64_t size;    /* from the walk's lstat or the listing, to schedule the biggest first */
    enum blob_status status;
    struct digest found;
    int64_t hashed_bytes;
    char error[ERROR_MESSAGE_MAX + 64];
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

/* --- what there is to verify -------------------------------------------- */

static struct blob_task *task_add(struct task_list *list)
{
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 256;
        struct blob_task *items = realloc(list->items, capacity * sizeof *items);
        if (items == NULL)
            return NULL;
        list->items = items;
        list->capacity = capacity;
    }
    struct blob_task *task = &list->items[list->count++];
    memset(task, 0, sizeof *task);
    return task;
}

static void tasks_clear(struct task_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].directory);
        free(list->items[i].data);
    }
    free(list->items);
    *list = (struct task_list){0};
}

/* The walk's visitor (layout/walk.h): one task per blob directory. */
static int collect_tree_blob(const struct walk_blob_directory *blob, void *context)
{
    struct blob_task *task = task_add(context);
    if (task == NULL)
        return error_set(-ENOMEM, "out of memory");
    task->source = BLOB_IN_TREE;
    task->digest = blob->digest;
    task->misplaced = blob->misplaced;
    task->directory = strdup(blob->directory);
    task->data = strdup(blob->data);
    if (task->directory == NULL || task->data == NULL)
        return error_set(-ENOMEM, "out of memory");
    struct stat status;
    task->size = lstat(blob->data, &status) == 0 ? (int64_t)status.st_size : 0;
    return 0;
}

/* --- hashing ------------------------------------------------------------- */

/* Reads the next piece (at most `size` bytes at `offset`) of what is being
 * hashed: the count, 0 at the end, or a negative errno. */
typedef ssize_t piece_reader(void *source, unsigned char *buffer, size_t size, int64_t offset);

/* A file of the tree, read sequentially. */
static ssize_t read_file_piece(void *source, unsigned char *buffer, size_t size, int64_t offset)
{
    (void)offset;
    for (;;) {
        ssize_t n = read(*(int *)source, buffer, size);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return error_set(-errno, "%s", strerror(errno));
    }
}

/* A blob of the store, through its reader. */
static ssize_t read_store_piece(void *source, unsigned char *buffer, size_t size, int64_t offset)
{
    return blob_reader_read(source, buffer, size, offset);
}

/* Hashes what `read` gives, `piece` bytes at a time; counts bytes into
 * `progress` (may be NULL) as it goes. */
static int hash_pieces(piece_reader *read, void *source, size_t piece,
                       enum digest_algorithm algorithm, unsigned char *buffer, struct digest *out,
                       int64_t *bytes_out, atomic_uint_least64_t *progress)
{
    struct digest_hasher hasher;
    int result = digest_hasher_init(&hasher, algorithm);
    if (result < 0)
        return result;
    int64_t total = 0;
    for (;;) {
        ssize_t n = read(source, buffer, piece, total);
        if (n < 0) {
            char message[ERROR_MESSAGE_MAX];
            snprintf(message, sizeof message, "%s", error_message());
            digest_hasher_release(&hasher);
            return error_set((int)n, "read failed after %lld bytes: %s", (long long)total, message);
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

/* What the verifying threads read from. */
struct verification {
    struct task_list *tasks;
    struct blob_store *store;
    const struct fsck_remote *remote; /* the listing (store blobs' sizes) */
};

/* A blob of the tree, through its data file (symbolic links not followed). */
static void verify_tree_blob(struct blob_task *task, unsigned char *buffer,
                             atomic_uint_least64_t *progress)
{
    int fd = open(task->data, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
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
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    int result = hash_pieces(read_file_piece, &fd, FSCK_BLOB_READ_SIZE, task->digest.algorithm,
                             buffer, &task->found, &task->hashed_bytes, progress);
    close(fd);
    if (result < 0) {
        task->status = BLOB_UNREADABLE;
        snprintf(task->error, sizeof task->error, "%s", error_message());
        return;
    }
    task->status =
        digest_equal(&task->found, &task->digest) && !task->misplaced ? BLOB_SOUND : BLOB_CORRUPT;
}

/* A blob the store keeps outside the tree, through its reader: it must hash
 * to its digest and have the listed size. */
static void verify_store_blob(struct blob_store *store, int64_t listed_size, struct blob_task *task,
                              unsigned char *buffer, atomic_uint_least64_t *progress)
{
    struct blob_reader *reader = NULL;
    struct blob_info info;
    int result = blob_store_open(store, &task->digest, &reader, &info);
    if (result == -ENOENT) {
        task->status = BLOB_NO_DATA; /* removed since the listing (cairn-gc) */
        return;
    }
    if (result < 0) {
        task->status = BLOB_UNREADABLE;
        snprintf(task->error, sizeof task->error, "cannot open: %s", error_message());
        return;
    }
    result = hash_pieces(read_store_piece, reader, FSCK_REMOTE_READ_SIZE, task->digest.algorithm,
                         buffer, &task->found, &task->hashed_bytes, progress);
    blob_reader_close(reader);
    if (result < 0) {
        task->status = BLOB_UNREADABLE;
        snprintf(task->error, sizeof task->error, "%s", error_message());
        return;
    }
    task->status = digest_equal(&task->found, &task->digest) && task->hashed_bytes == listed_size
                       ? BLOB_SOUND
                       : BLOB_CORRUPT;
}

/* Examines one blob; fills task->status (and found/hashed_bytes/error). */
static void verify_blob(const struct verification *verification, struct blob_task *task,
                        unsigned char *buffer, atomic_uint_least64_t *progress)
{
    task->hashed_bytes = 0;
    if (task->source == BLOB_IN_TREE)
        verify_tree_blob(task, buffer, progress);
    else
        verify_store_blob(verification->store, verification->remote->blobs[task->listed].size, task,
                          buffer, progress);
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
    const struct verification *verification = run->context;
    struct blob_task *task = &verification->tasks->items[item];
    if (buffer == NULL) {
        task->status = BLOB_UNREADABLE;
        snprintf(task->error, sizeof task->error, "out of memory");
    } else {
        verify_blob(verification, task, buffer, &run->bytes);
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

/* What one verification pass took. */
struct pass_totals {
    double seconds;
    unsigned jobs;
    uint64_t bytes;
};

/* Runs the threads over every task of `tasks`, biggest first (a progress
 * line on stderr labelled `label` with --progress). */
static int verify_all(struct fsck_context *context, struct task_list *tasks, const char *label,
                      struct pass_totals *totals)
{
    size_t *order = malloc((tasks->count ? tasks->count : 1) * sizeof *order);
    if (order == NULL)
        return error_set(-ENOMEM, "out of memory");
    for (size_t i = 0; i < tasks->count; i++)
        order[i] = i;
    sort_tasks_context = tasks;
    qsort(order, tasks->count, sizeof *order, compare_by_size_descending);
    sort_tasks_context = NULL;
    struct verification verification = {tasks, context->store, &context->report->remote};
    struct parallel_run run = {.count = tasks->count,
                               .order = order,
                               .buffer_size = FSCK_REMOTE_READ_SIZE > FSCK_BLOB_READ_SIZE
                                                  ? FSCK_REMOTE_READ_SIZE
                                                  : FSCK_BLOB_READ_SIZE,
                               .work = verify_task,
                               .context = &verification,
                               .progress_label = label};
    int result = run_parallel(&run, context->options->jobs, context->options->progress);
    totals->seconds = run.seconds;
    totals->jobs = run.jobs;
    totals->bytes = atomic_load(&run.bytes);
    free(order);
    return result;
}

/* --- quarantine and repairs ---------------------------------------------- */

int fsck_blob_quarantine(const struct tree *tree, const char *blob_directory, const char *data_path,
                         const struct digest *digest, long long now, const char *reason,
                         char out[TREE_PATH_MAX])
{
    char quarantine[TREE_PATH_MAX], directory[TREE_PATH_MAX], reason_path[TREE_PATH_MAX];
    int result = tree_path_quarantine_directory(tree, quarantine);
    if (result < 0 ||
        (result = tree_path_quarantine_algorithm_directory(tree, digest->algorithm, directory)) <
            0 ||
        (result = directory_create(directory)) < 0)
        return result;
    /* A free name: <hex>.<now>, else <hex>.<now>-1, -2, ... */
    for (int attempt = 0;; attempt++) {
        if ((result = tree_path_quarantined_blob(tree, digest, now, attempt, out)) < 0 ||
            (result = tree_path_quarantine_reason(tree, digest, now, attempt, reason_path)) < 0)
            return error_set(result, "quarantine path too long");
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
    if (rmdir(blob_directory) == 0)
        (void)directory_sync_parent(blob_directory);
    return 0;
}

/* Under the lock: still corrupt? Then into the quarantine. */
static int repair_corrupt(struct fsck_context *context, struct blob_task *task, const char *detail,
                          unsigned char *buffer, char quarantined[TREE_PATH_MAX])
{
    int result = fsck_repair_lock(context);
    if (result < 0)
        return result;
    struct blob_task again = *task; /* shares its paths, freed once by the caller */
    again.hashed_bytes = 0;
    verify_tree_blob(&again, buffer, NULL);
    if (again.status != BLOB_CORRUPT) {
        fsck_repair_unlock(context);
        return error_set(-EAGAIN,
                         "changed meanwhile (no longer corrupt under the lock), left alone");
    }
    result = fsck_blob_quarantine(context->tree, task->directory, task->data, &task->digest,
                                  context->options->now, detail, quarantined);
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

/* Reports one examined blob of the tree (and repairs it with --repair). */
static int conclude_tree(struct fsck_context *context, struct blob_task *task,
                         unsigned char *buffer)
{
    struct fsck_report *report = context->report;
    const char *data = task->data;
    int result;
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
static int list_store(struct fsck_context *context)
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

/* "s3:sha256:..." — where a blob of the store is, without a path. */
static void remote_blob_name(const struct fsck_remote *remote, const struct digest *digest,
                             char out[TREE_PATH_MAX])
{
    snprintf(out, TREE_PATH_MAX, "%s:%s", remote->store, digest->string);
}

/* Reports one re-hashed blob of the store. Nothing is repaired: blobs the
 * store keeps outside the tree are never moved or deleted. */
static int conclude_store(struct fsck_context *context, struct blob_task *task)
{
    struct fsck_report *report = context->report;
    struct fsck_remote *remote = &report->remote;
    struct fsck_remote_blob *blob = &remote->blobs[task->listed];
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

/* Verifies `tasks` (one pass: re-hashed in parallel, then reported in
 * digest order, each by where it is). */
static int verify_pass(struct fsck_context *context, struct task_list *tasks, const char *label,
                       struct pass_totals *totals)
{
    int result = verify_all(context, tasks, label, totals);
    unsigned char *buffer = NULL;
    if (result == 0 && context->options->repair && (buffer = malloc(FSCK_BLOB_READ_SIZE)) == NULL)
        result = error_set(-ENOMEM, "out of memory");
    for (size_t i = 0; result == 0 && i < tasks->count; i++) {
        struct blob_task *task = &tasks->items[i];
        result = task->source == BLOB_IN_TREE ? conclude_tree(context, task, buffer)
                                              : conclude_store(context, task);
    }
    free(buffer);
    fsck_digest_list_sort(&context->report->sound_blobs);
    fsck_digest_list_sort(&context->report->corrupt_blobs);
    return result;
}

/* The blobs the store lists outside the tree that --deep re-hashes: those
 * the tree does not hold too (the store serves the tree's copy, verified in
 * the first pass). */
static int collect_store_tasks(struct fsck_context *context, struct task_list *out)
{
    struct fsck_report *report = context->report;
    struct fsck_remote *remote = &report->remote;
    for (size_t i = 0; i < remote->count; i++) {
        const struct digest *digest = &remote->blobs[i].digest;
        if (fsck_digest_list_contains(&report->sound_blobs, digest) ||
            fsck_digest_list_contains(&report->corrupt_blobs, digest)) {
            remote->served_locally++;
            continue;
        }
        struct blob_task *task = task_add(out);
        if (task == NULL)
            return error_set(-ENOMEM, "out of memory");
        task->source = BLOB_IN_STORE;
        task->digest = *digest;
        task->listed = i;
        task->size = remote->blobs[i].size;
    }
    return 0;
}

int fsck_blobs_verify(struct fsck_context *context)
{
    struct fsck_report *report = context->report;
    struct fsck_remote *remote = &report->remote;
    struct task_list tree_tasks = {0}, store_tasks = {0};
    struct pass_totals totals = {0};
    /* The tree's blobs, always re-hashed. */
    int result = walk_blob_directories(context->tree, collect_tree_blob, &tree_tasks);
    if (result == 0)
        result = verify_pass(context, &tree_tasks, "blobs", &totals);
    report->blob_seconds = totals.seconds;
    report->jobs = totals.jobs;
    report->blob_bytes = totals.bytes;
    tasks_clear(&tree_tasks);
    if (result < 0)
        return result;
    /* What the store lists: the tree's blobs again (without a blob_info),
     * and those it keeps elsewhere, re-hashed with --deep. */
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    remote->examined = blob_store_keeps_blobs_outside_tree(context->store);
    remote->deep = remote->examined && context->options->deep != 0;
    snprintf(remote->store, sizeof remote->store, "%s", context->store->operations->name);
    result = list_store(context);
    if (result == 0 && remote->deep)
        result = collect_store_tasks(context, &store_tasks);
    if (result == 0 && remote->deep) {
        result = verify_pass(context, &store_tasks, "remote blobs", &totals);
        remote->jobs = totals.jobs;
    }
    tasks_clear(&store_tasks);
    remote->seconds = seconds_since(&start);
    return result;
}
