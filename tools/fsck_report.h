/*
 * tools/fsck_report.h — what a cairn-fsck run found: its problems, counters
 * and the blobs it saw, and the report printed from them (human or JSON,
 * docs/fsck.md).
 *
 * The steps of a run (tools/fsck.h) fill one `struct fsck_report`: problems
 * with fsck_report_add() (thread-safe: blob workers add concurrently), the
 * digest sets with digest_list_append() and fsck_digest_list_sort(). The
 * names of problem kinds and the JSON document are an interface: scripts and
 * tests rely on them.
 *
 *     struct fsck_report report;
 *     fsck_report_init(&report);
 *     ... fsck_run(&tree, store, &options, &report) ...
 *     fsck_report_print_json(stdout, &report);
 *     fsck_report_clear(&report);
 */
#ifndef CAIRN_TOOLS_FSCK_REPORT_H
#define CAIRN_TOOLS_FSCK_REPORT_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "layout/digest.h"
#include "layout/walk.h"

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
    FSCK_BLOB_SIZE_MISMATCH,         /* a blob's size differs from its descriptor's */
    FSCK_TEMPORARY_FILE,             /* a .cairn-tmp-XXXXXX left by an interrupted write */
    FSCK_STALE_UPLOAD,               /* an upload started more than 168 h ago */
};

const char *fsck_problem_kind_name(enum fsck_problem_kind kind);

struct fsck_problem {
    enum fsck_problem_kind kind;
    char *path;   /* absolute (or as given by --root) path of the damaged file or directory;
                     for a blob kept outside the tree "<store>:<digest>" ("s3:sha256:...") */
    char *detail; /* one line, for people */
    int repaired;
};

/* A blob the store keeps outside the tree, as its listing gave it. */
struct fsck_remote_blob {
    struct digest digest;
    int64_t size;               /* listed size */
    long long modified_seconds; /* listed modification time */
    int gone;                   /* absent when --deep came to read it (removed meanwhile) */
};

/* What a run saw of the blobs a store keeps outside the tree (the "remote"
 * section of the report; not examined with the filesystem store). */
struct fsck_remote {
    int examined;    /* blob_store_keeps_blobs_outside_tree: the fields below are filled */
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

    struct fsck_remote remote; /* the store's blobs outside the tree */
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

/* The store's listed blob `digest` outside the tree (report->remote.blobs),
 * or NULL. */
struct fsck_remote_blob *fsck_remote_blob_find(const struct fsck_report *report,
                                               const struct digest *digest);

/* One problem per line ("<kind>  <path>  <detail>[  repaired]"), the orphaned
 * blobs (the first few), then the summary. */
void fsck_report_print_human(FILE *stream, const struct fsck_report *report);
/* The JSON document described in docs/fsck.md, one line. */
void fsck_report_print_json(FILE *stream, const struct fsck_report *report);

#endif
