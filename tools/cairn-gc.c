/*
 * tools/cairn-gc.c — the garbage collector's command line: options, the
 * mark and sweep phases (gc_mark.h, gc_sweep.h), and the report, for people
 * or (--json) for machines. docs/gc.md is the manual.
 *
 * Exit status: 0 when everything went through, 1 when a deletion failed or
 * the tree could not be read (the report says what), 2 on a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "drivers/fs.h"
#include "layout/error.h"
#include "layout/gc_lock.h"
#include "layout/run_marker.h"
#include "tools/gc_mark.h"
#include "tools/gc_sweep.h"
#include "tools/tool_common.h"

#define EXIT_DONE 0
#define EXIT_FAILED 1
#define EXIT_USAGE 2

static void usage(FILE *out)
{
    fputs("usage: cairn-gc (--root DIR | --config FILE) [--dry-run] [--delete-untagged]\n"
          "                [--grace DURATION] [--uploads-older-than DURATION] [--full]\n"
          "                [--jobs N] [--json] [--quiet]\n"
          "\n"
          "Deletes the blobs no manifest references, safely beside a running cairn.\n"
          "\n"
          "  --root DIR                 the registry's root directory\n"
          "  --config FILE              take storage.filesystem.rootdirectory from cairn's\n"
          "                             (or Distribution's) configuration file, and\n"
          "                             evict what its mirrors' evict_after says\n"
          "  --dry-run                  delete nothing; report what would be deleted\n"
          "  --delete-untagged          also delete manifests no tag reaches (and their\n"
          "                             referrers), and then their blobs\n"
          "  --grace DURATION           never delete what is younger than this (default 1h)\n"
          "  --uploads-older-than DURATION\n"
          "                             remove uploads started longer ago "
          "(default " CONFIG_DEFAULT_UPLOAD_PURGING_AGE_TEXT ")\n"
          "  --full                     walk the whole tree for crash debris even when no\n"
          "                             process writing it stopped uncleanly\n"
          "  --jobs N                   threads marking repositories at once (default: one\n"
          "                             per CPU)\n"
          "  --json                     print one JSON object on stdout\n"
          "  --quiet                    print only errors\n"
          "  --help                     print this help and exit\n"
          "\n"
          "Durations as in Distribution's configuration: 0s, 90s, 15m, 1h, 168h, 1h30m\n"
          "(plain digits are seconds).\n"
          "\n"
          "Exit status: 0 done (nothing failed), 1 a deletion failed or the tree could\n"
          "not be read (see the errors), 2 usage error. See docs/gc.md.\n",
          out);
}

struct arguments {
    const char *root;
    const char *config;
    int dry_run;
    int delete_untagged;
    long long grace_seconds;
    long long uploads_seconds;
    int full_walk;
    unsigned jobs;
    int json;
    int quiet;
};

/* 0 to run, 1 when --help was printed, -1 on a usage error (printed). */
static int parse_arguments(int argc, char **argv, struct arguments *arguments)
{
    enum {
        GRACE = 256,
        UPLOADS,
        HELP,
        JSON,
        QUIET,
        DRY_RUN,
        DELETE_UNTAGGED,
        ROOT,
        CONFIG,
        FULL,
        JOBS
    };
    static const struct option options[] = {
        {"root", required_argument, NULL, ROOT},
        {"config", required_argument, NULL, CONFIG},
        {"dry-run", no_argument, NULL, DRY_RUN},
        {"delete-untagged", no_argument, NULL, DELETE_UNTAGGED},
        {"grace", required_argument, NULL, GRACE},
        {"uploads-older-than", required_argument, NULL, UPLOADS},
        {"full", no_argument, NULL, FULL},
        {"jobs", required_argument, NULL, JOBS},
        {"json", no_argument, NULL, JSON},
        {"quiet", no_argument, NULL, QUIET},
        {"help", no_argument, NULL, HELP},
        {NULL, 0, NULL, 0},
    };
    *arguments = (struct arguments){.grace_seconds = 3600,
                                    .uploads_seconds = CONFIG_DEFAULT_UPLOAD_PURGING_AGE_SECONDS};
    opterr = 0;
    int option;
    while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (option) {
        case ROOT:
            arguments->root = optarg;
            break;
        case CONFIG:
            arguments->config = optarg;
            break;
        case DRY_RUN:
            arguments->dry_run = 1;
            break;
        case DELETE_UNTAGGED:
            arguments->delete_untagged = 1;
            break;
        case FULL:
            arguments->full_walk = 1;
            break;
        case JOBS: {
            char *end;
            errno = 0;
            unsigned long jobs = strtoul(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || jobs < 1 ||
                jobs > GC_MARK_JOBS_MAX) {
                fprintf(stderr, "cairn-gc: --jobs: a number from 1 to %d, not \"%s\"\n",
                        GC_MARK_JOBS_MAX, optarg);
                return -1;
            }
            arguments->jobs = (unsigned)jobs;
            break;
        }
        case JSON:
            arguments->json = 1;
            break;
        case QUIET:
            arguments->quiet = 1;
            break;
        case HELP:
            usage(stdout);
            return 1;
        case GRACE:
        case UPLOADS:
            if (tool_parse_duration(optarg, option == GRACE ? &arguments->grace_seconds
                                                            : &arguments->uploads_seconds) < 0) {
                fprintf(stderr, "cairn-gc: --%s: %s\n",
                        option == GRACE ? "grace" : "uploads-older-than", error_message());
                return -1;
            }
            break;
        default:
            if (optopt != 0 || argv[optind - 1] == NULL)
                fprintf(stderr, "cairn-gc: option %s needs a value\n", argv[optind - 1]);
            else
                fprintf(stderr, "cairn-gc: unknown option %s\n", argv[optind - 1]);
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cairn-gc: unexpected argument %s\n", argv[optind]);
        usage(stderr);
        return -1;
    }
    if ((arguments->root == NULL) == (arguments->config == NULL)) {
        fprintf(stderr, "cairn-gc: give exactly one of --root DIR and --config FILE\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

struct timings {
    double mark;
    double sweep;
    double total;
};

static int print_json(const struct arguments *arguments, const struct gc_mark *mark,
                      const struct gc_sweep_result *result, const struct string_list *errors,
                      const struct timings *timings)
{
    json_t *root = json_object(), *blobs = json_array(), *revisions = json_array(),
           *error_list = json_array();
    if (root == NULL || blobs == NULL || revisions == NULL || error_list == NULL)
        goto fail;
    for (size_t i = 0; i < result->blob_count; i++)
        if (json_array_append_new(blobs,
                                  json_pack("{s:s,s:I}", "digest", result->blobs[i].digest.string,
                                            "size", (json_int_t)result->blobs[i].size)) < 0)
            goto fail;
    for (size_t i = 0; i < result->revision_count; i++)
        if (json_array_append_new(revisions, json_string(result->revisions[i].digest.string)) < 0)
            goto fail;
    for (size_t i = 0; i < errors->count; i++)
        if (json_array_append_new(error_list, json_string(errors->items[i])) < 0)
            goto fail;
    json_t *body = json_pack(
        "{s:b,s:b,s:I,s:{s:I,s:I},s:{s:o,s:I,s:I,s:o,s:I,s:I,s:I},s:{s:I},s:{s:I},s:{s:s,s:I},s:o,"
        "s:{s:f,s:f,s:f}}",
        "dry_run", arguments->dry_run, "delete_untagged", arguments->delete_untagged,
        "grace_seconds", (json_int_t)arguments->grace_seconds, "marked", "manifests",
        (json_int_t)mark->manifests, "blobs", (json_int_t)mark->blobs.count, "deleted", "blobs",
        blobs, "bytes", (json_int_t)result->bytes, "layer_links", (json_int_t)result->layer_links,
        "revisions", revisions, "uploads", (json_int_t)result->uploads, "temporary_files",
        (json_int_t)result->temporary_files, "directories", (json_int_t)result->directories, "kept",
        "freshened", (json_int_t)result->kept_freshened, "evicted", "manifests",
        (json_int_t)result->evicted, "debris", "walk", gc_debris_walk_name(result->debris_walk),
        "unclean_stops", (json_int_t)result->unclean_stops, "errors", error_list, "seconds", "mark",
        timings->mark, "sweep", timings->sweep, "total", timings->total);
    json_decref(root);
    if (body == NULL)
        return -1; /* json_pack stole the references it was given even on failure */
    int printed =
        json_dumpf(body, stdout, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(body);
    if (printed < 0)
        return -1;
    fputc('\n', stdout);
    return 0;
fail:
    json_decref(root);
    json_decref(blobs);
    json_decref(revisions);
    json_decref(error_list);
    return -1;
}

static void print_human(const struct arguments *arguments, const char *root,
                        const struct gc_mark *mark, const struct gc_sweep_result *result,
                        const struct timings *timings)
{
    const char *verb = arguments->dry_run ? "would delete" : "deleted";
    char size[32];
    printf("cairn-gc: %s%s%s\n", root, arguments->dry_run ? " (dry run)" : "",
           arguments->delete_untagged ? " (deleting untagged manifests)" : "");
    printf("marked: %lu manifests, %zu blobs in %zu repositories (%.3f s)\n", mark->manifests,
           mark->blobs.count, mark->repository_count, timings->mark);
    if (mark->unparseable > 0)
        printf("kept %lu manifests that could not be parsed (and every blob their repository "
               "links)\n",
               mark->unparseable);
    for (size_t i = 0; i < result->revision_count; i++)
        printf("%s manifest %s@%s\n", verb, result->revisions[i].name,
               result->revisions[i].digest.string);
    for (size_t i = 0; i < result->blob_count; i++) {
        tool_format_size((unsigned long long)result->blobs[i].size, size);
        printf("%s blob %s (%s)\n", verb, result->blobs[i].digest.string, size);
    }
    tool_format_size(result->bytes, size);
    printf("%s %zu blobs, %s (%llu bytes) %s\n", verb, result->blob_count, size,
           (unsigned long long)result->bytes,
           arguments->dry_run ? "would be reclaimed" : "reclaimed");
    printf("%s %zu manifests, %lu layer links, %lu uploads, %lu temporary files, "
           "%lu empty directories\n",
           verb, result->revision_count, result->layer_links, result->uploads,
           result->temporary_files, result->directories);
    if (result->debris_walk == GC_DEBRIS_WALK_SKIPPED)
        printf("debris: not looked for (every process that wrote the tree exited cleanly)\n");
    else if (result->debris_walk == GC_DEBRIS_WALK_STOPPED)
        printf("debris: walked the whole tree (%zu uncleanly stopped writer%s)\n",
               result->unclean_stops, result->unclean_stops == 1 ? "" : "s");
    else
        printf("debris: walked the whole tree (%s)\n", gc_debris_walk_name(result->debris_walk));
    if (result->evicted > 0)
        printf("%s %lu of these manifests from mirrors: not pulled for their evict_after\n",
               arguments->dry_run ? "would evict" : "evicted", result->evicted);
    if (result->kept_freshened > 0)
        printf("kept %lu blobs freshened by a push during the sweep\n", result->kept_freshened);
    printf("time: mark %.3f s, sweep %.3f s, total %.3f s\n", timings->mark, timings->sweep,
           timings->total);
}

static int report_usage_error(void)
{
    fprintf(stderr, "cairn-gc: %s\n", error_message());
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    /* A bucket that drops a connection must be an error, not a signal
     * (libcurl runs with CURLOPT_NOSIGNAL). */
    signal(SIGPIPE, SIG_IGN);
    struct arguments arguments;
    int parsed = parse_arguments(argc, argv, &arguments);
    if (parsed != 0)
        return parsed > 0 ? EXIT_DONE : EXIT_USAGE;

    char root[TREE_PATH_MAX];
    struct tree tree;
    struct config config;
    if (tool_settings_from_arguments(arguments.root, arguments.config, &config, root) < 0)
        return report_usage_error();
    if (tree_open(&tree, root, 0) < 0) {
        config_release(&config);
        return report_usage_error();
    }
    struct stat status;
    if (stat(tree.root_directory, &status) < 0 || !S_ISDIR(status.st_mode)) {
        fprintf(stderr, "cairn-gc: cannot read the root directory %s: %s\n", tree.root_directory,
                errno != 0 ? strerror(errno) : "not a directory");
        config_release(&config);
        return EXIT_FAILED;
    }
    struct blob_store *store;
    int opened = tool_blob_store_open(&config, &tree, &store);
    /* Kept to the end: its mirrors say what is evicted (docs/mirror.md). */
    if (opened < 0) {
        fprintf(stderr, "cairn-gc: %s\n", error_message());
        config_release(&config);
        return EXIT_FAILED;
    }

    /* A run killed midway is an unclean stop like a server's (a dry run
     * writes nothing). */
    struct run_marker marker = {.fd = -1};
    if (!arguments.dry_run && run_marker_enter(&tree, "cairn-gc", &marker) < 0) {
        fprintf(stderr, "cairn-gc: %s\n", error_message());
        blob_store_destroy(store);
        config_release(&config);
        return EXIT_FAILED;
    }

    struct timespec started, marked, ended;
    clock_gettime(CLOCK_MONOTONIC, &started);
    struct gc_mark mark;
    struct gc_sweep_result result;
    struct string_list errors = {0};
    int exit_code = EXIT_DONE;
    gc_mark_init(&mark, arguments.delete_untagged);
    mark.jobs = arguments.jobs;
    mark.mirrors = config.mirrors;
    mark.mirror_count = config.mirror_count;
    mark.now = (long long)time(NULL);
    memset(&result, 0, sizeof result);

    struct gc_sweep_options options = {
        .dry_run = arguments.dry_run,
        .full_walk = arguments.full_walk,
        .grace_seconds = arguments.grace_seconds,
        .uploads_older_than_seconds = arguments.uploads_seconds,
    };
    int run = -1;
    int status_code = gc_sweep_mark_start(&tree, arguments.dry_run, &options.mark_start, &run);
    if (status_code < 0) {
        gc_mark_add_error(&mark, "cannot take the GC lock: %s", error_message());
    } else {
        status_code = gc_mark_tree(&mark, &tree, store);
        if (status_code < 0)
            gc_mark_add_error(&mark, "mark: %s", error_message());
    }
    clock_gettime(CLOCK_MONOTONIC, &marked);
    if (status_code >= 0) {
        status_code = gc_sweep_run(&tree, store, &mark, &options, &result);
        if (status_code < 0)
            string_list_append(&result.errors, error_message());
    }
    gc_run_withdraw(&tree, run);
    clock_gettime(CLOCK_MONOTONIC, &ended);
    struct timings timings = {
        .mark = tool_seconds_between(&started, &marked),
        .sweep = tool_seconds_between(&marked, &ended),
        .total = tool_seconds_between(&started, &ended),
    };

    for (size_t i = 0; i < mark.errors.count; i++)
        string_list_append(&errors, mark.errors.items[i]);
    for (size_t i = 0; i < result.errors.count; i++)
        string_list_append(&errors, result.errors.items[i]);
    if (errors.count > 0 || status_code < 0)
        exit_code = EXIT_FAILED;
    for (size_t i = 0; i < errors.count; i++)
        fprintf(stderr, "cairn-gc: error: %s\n", errors.items[i]);

    if (arguments.json) {
        if (print_json(&arguments, &mark, &result, &errors, &timings) < 0) {
            fprintf(stderr, "cairn-gc: cannot write the JSON report\n");
            exit_code = EXIT_FAILED;
        }
    } else if (!arguments.quiet) {
        print_human(&arguments, tree.root_directory, &mark, &result, &timings);
    }
    if (fflush(stdout) != 0)
        exit_code = EXIT_FAILED;

    string_list_clear(&errors);
    gc_sweep_result_release(&result);
    gc_mark_release(&mark);
    blob_store_destroy(store);
    config_release(&config);
    run_marker_leave(&marker);
    return exit_code;
}
