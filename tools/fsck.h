/*
 * tools/fsck.h — one cairn-fsck run over a tree: what it found, what it
 * repaired, and the report (human or JSON).
 *
 * A run has four steps, in this order (each step sees the repairs of the
 * previous ones, so that a corrupt blob moved to the quarantine in step 1
 * makes its links dangling in step 2, where they are removed):
 *
 *   1. blobs (fsck_blobs.h): every blob of T/blobs re-hashed, in parallel;
 *      with a remote store (blob_store_is_remote: S3) also the store's own
 *      blobs, listed through the store (never by path) and, with
 *      options->deep, re-hashed through blob readers;
 *   2. links (fsck_links.h): every link file of every repository, and every
 *      manifest a revision names (with a remote store also the size every
 *      config and layer descriptor gives);
 *   3. temporary files (atomic_file.h names) anywhere under T;
 *   4. stale uploads (older than FSCK_STALE_UPLOAD_SECONDS).
 *
 * Then the orphaned blobs: sound blobs (local, or listed by the remote store
 * and not found corrupt) that no link refers to (information for the
 * operator and cairn-gc, not a problem).
 *
 * With the filesystem store the run is exactly the same with or without
 * options->deep: its blobs are always re-hashed.
 *
 * Repair policy (docs/fsck.md): only what is proven wrong is touched, and
 * blob bytes are never deleted: a corrupt blob is renamed into the quarantine
 * (R/.cairn-quarantine/<alg>/<hex>.<unix-time>, with a .reason file). Each
 * repair holds the GC lock (gc_lock.h) EXCLUSIVE and re-checks its problem
 * under the lock first, so a server writing to the tree never sees a repair
 * half-done, and a problem a writer fixed meanwhile is left alone. Without
 * --repair the run is read-only (it does not even create the lock file).
 * Blobs of a remote store are never moved or deleted, even with --repair
 * (there is no quarantine in a bucket): corrupt ones are reported only.
 *
 *     struct fsck_options options = {.jobs = 4, .repair = 0, .now = time(NULL),
 *                                    .stale_upload_seconds = FSCK_STALE_UPLOAD_SECONDS};
 *     struct fsck_report report;
 *     fsck_report_init(&report);
 *     if (fsck_run(&tree, store, &options, &report) < 0) ... error_message()
 *     fsck_report_print_json(stdout, &report);
 *     int sound = report.problem_count == 0;
 *     fsck_report_clear(&report);
 */
#ifndef CAIRN_TOOLS_FSCK_H
#define CAIRN_TOOLS_FSCK_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "drivers/blob_store.h"
#include "layout/tree.h"
#include "layout/walk.h"

/* Uploads older than this are "stale" (Distribution's purge default). */
#define FSCK_STALE_UPLOAD_SECONDS (168LL * 3600)

/* The kinds, named in the JSON output exactly as fsck_problem_kind_name()
 * spells them; scripts and tests rely on these names. */
enum fsck_problem_kind {
    FSCK_CORRUPT_BLOB,               /* content does not hash to its digest, or misplaced */
    FSCK_MISSING_BLOB_DATA,          /* a blob directory without a regular `data` file */
    FSCK_DANGLING_LINK,              /* a well-formed link whose target is missing */
    FSCK_INVALID_LINK,               /* garbage in a link, or content != its path's digest */
    FSCK_TAG_WITHOUT_REVISION,       /* tag without current link, or pointing at no revision */
    FSCK_MANIFEST_INVALID,           /* a revision's blob is not a manifest cairn can parse */
    FSCK_MANIFEST_REFERENCE_MISSING, /* a manifest's blob or child not in the repository */
    FSCK_BLOB_SIZE_MISMATCH,         /* remote store: a blob's size differs from its descriptor's */
    FSCK_TEMPORARY_FILE,             /* a .cairn-tmp-XXXXXX left by an interrupted write */
    FSCK_STALE_UPLOAD,               /* an upload started more than 168 h ago */
};

const char *fsck_problem_kind_name(enum fsck_problem_kind kind);

struct fsck_problem {
    enum fsck_problem_kind kind;
    char *path;   /* absolute (or as given by --root) path of the damaged file or directory;
                     for a blob of a remote store "<store>:<digest>" ("s3:sha256:...") */
    char *detail; /* one line, for people */
    int repaired;
};

struct fsck_options {
    int repair;
    unsigned jobs; /* blob verification threads (>= 1) */
    int progress;  /* print a progress line on stderr (a terminal) */
    int deep;      /* remote store: re-hash its blobs too (the filesystem's always are) */
    long long now; /* seconds since the epoch, for upload ages */
    long long stale_upload_seconds;
};

/* A blob of a remote store, as its listing gave it. */
struct fsck_remote_blob {
    struct digest digest;
    int64_t size;               /* listed size */
    long long modified_seconds; /* listed modification time */
    int gone;                   /* absent when --deep came to read it (removed meanwhile) */
};

/* What a run saw of a remote store (all zero with the filesystem store). */
struct fsck_remote {
    int examined;    /* the store is remote: the fields below are filled */
    char store[32];  /* the backend's name: "s3" */
    int deep;        /* its blobs were re-hashed (--deep) */
    uint64_t listed; /* blobs the store listed (not those it keeps in the tree) */
    uint64_t listed_bytes;
    uint64_t verified; /* --deep: blobs re-hashed to the end (sound or not) */
    uint64_t verified_bytes;
    uint64_t served_locally; /* --deep: listed, but the store serves the tree's copy (step 1) */
    double seconds;          /* listing and re-hashing */
    unsigned jobs;           /* --deep: threads that re-hashed */
    struct fsck_remote_blob *blobs; /* the listing, sorted by digest string, one per digest */
    size_t count;
    size_t capacity;
};

struct fsck_report {
    pthread_mutex_t mutex; /* guards `problems` (blob workers add concurrently) */
    struct fsck_problem *problems;
    size_t problem_count;
    size_t problem_capacity;

    uint64_t blobs_verified; /* blobs hashed (sound or not) */
    uint64_t blob_bytes;     /* bytes hashed */
    double blob_seconds;     /* wall time of the verification */
    unsigned jobs;
    uint64_t links_checked;
    double seconds; /* the whole run */

    struct digest_list orphaned_blobs; /* sorted */

    /* Working sets of a run, sorted by digest string once complete. */
    struct digest_list sound_blobs;   /* verified and intact */
    struct digest_list corrupt_blobs; /* found corrupt and still in place */
    struct digest_list referenced;    /* every link target seen */

    struct fsck_remote remote; /* a remote store's blobs (blob_store_is_remote) */
};

void fsck_report_init(struct fsck_report *report);
void fsck_report_clear(struct fsck_report *report);

/* Records a problem (thread-safe). `detail` is printf-formatted. */
int fsck_report_add(struct fsck_report *report, enum fsck_problem_kind kind, const char *path,
                    int repaired, const char *format, ...) __attribute__((format(printf, 5, 6)));

/* Problems found with `kind` (for tests and the summary). */
size_t fsck_report_count(const struct fsck_report *report, enum fsck_problem_kind kind);
size_t fsck_report_repaired_count(const struct fsck_report *report);

/* Whether `digest` is in a list sorted by digest string. */
int fsck_digest_list_contains(const struct digest_list *list, const struct digest *digest);
void fsck_digest_list_sort(struct digest_list *list);

/* The remote store's listed blob `digest` (report->remote.blobs), or NULL. */
struct fsck_remote_blob *fsck_remote_blob_find(const struct fsck_report *report,
                                               const struct digest *digest);

/* What the steps share during a run. */
struct fsck_context {
    const struct tree *tree;
    struct blob_store *store;
    const struct fsck_options *options;
    struct fsck_report *report;
    int lock_fd;             /* the GC lock's descriptor, -1 until first needed */
    struct timespec started; /* CLOCK_REALTIME at the start of the run */
};

/* Takes the GC lock EXCLUSIVE for one repair (opening, and creating, the lock
 * file on first use); fsck_repair_unlock() releases it. */
int fsck_repair_lock(struct fsck_context *context);
void fsck_repair_unlock(struct fsck_context *context);

/* Takes the GC lock EXCLUSIVE to confirm a problem before reporting it: a
 * writer holds the lock shared while it writes a group of links, so a link
 * problem seen in passing (a tag being written: its index entry before its
 * current link) is gone once the lock is held. With --repair it is
 * fsck_repair_lock(); without, the lock file is only opened if it exists
 * (the run stays read-only) and 1 is returned when there is none (no cairn
 * ever wrote to this tree: nothing to wait for). Release with
 * fsck_repair_unlock(). */
int fsck_confirm_lock(struct fsck_context *context);

/* The whole run (steps above). Returns 0 when the tree could be examined
 * (whether sound or not: see report->problem_count), or a negative errno
 * when the run itself failed (out of memory, tree unreadable). */
int fsck_run(const struct tree *tree, struct blob_store *store, const struct fsck_options *options,
             struct fsck_report *report);

/* One problem per line ("<kind>  <path>  <detail>[  repaired]"), the orphaned
 * blobs (the first few), then the summary. */
void fsck_report_print_human(FILE *stream, const struct fsck_report *report);
/* The JSON document described in docs/fsck.md, one line. */
void fsck_report_print_json(FILE *stream, const struct fsck_report *report);

#endif
