/*
 * tools/cairn-fsck.c — the command line of cairn-fsck: is the tree sound?
 *
 *     cairn-fsck (--root DIR | --config FILE) [--repair] [--deep] [--jobs N] [--json]
 *
 * Exit status: 0 the tree is sound, 1 problems were found (even if all were
 * repaired: each says "repaired"), 2 usage error or the tree cannot be
 * examined at all. The checks and the repair policy are in tools/fsck.h and
 * docs/fsck.md.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "drivers/fs.h"
#include "layout/error.h"
#include "layout/run_marker.h"
#include "layout/tree.h"
#include "tools/fsck.h"
#include "tools/tool_common.h"

#define EXIT_SOUND 0
#define EXIT_PROBLEMS 1
#define EXIT_USAGE 2

static void usage(FILE *stream)
{
    fputs("usage: cairn-fsck (--root DIR | --config FILE) [--repair] [--deep] [--jobs N] "
          "[--json]\n"
          "\n"
          "Verifies a cairn (or Distribution) registry tree: re-hashes every blob, checks\n"
          "every link, tag and manifest, lists temporary files and stale uploads.\n"
          "\n"
          "  --root DIR      the registry's root directory\n"
          "  --config FILE   take the root from FILE's storage.filesystem.rootdirectory; with\n"
          "                  storage.s3, check the blobs in the bucket too\n"
          "  --repair        remove dangling and garbage links, broken tags, temporary files\n"
          "                  and stale uploads; move corrupt blobs to DIR/.cairn-quarantine\n"
          "                  (blobs in a bucket are reported, never moved)\n"
          "  --deep          S3: re-hash every blob in the bucket too (reads all of it); by\n"
          "                  default their existence and sizes are checked. Blobs on disk are\n"
          "                  always re-hashed\n"
          "  --jobs N        blob verification threads (default: the number of cores)\n"
          "  --json          one JSON document on stdout instead of the text report\n"
          "\n"
          "Exit status: 0 sound, 1 problems found (even if repaired), 2 usage error.\n",
          stream);
}

static int parse_jobs(const char *text, unsigned *out)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < 1 || value > 1024)
        return error_set(-EINVAL, "--jobs wants a number from 1 to 1024, not \"%s\"", text);
    *out = (unsigned)value;
    return 0;
}

int main(int argc, char **argv)
{
    /* A bucket that drops a connection must be an error, not a signal
     * (libcurl runs with CURLOPT_NOSIGNAL). */
    signal(SIGPIPE, SIG_IGN);
    static const struct option long_options[] = {
        {"root", required_argument, NULL, 'r'}, {"config", required_argument, NULL, 'c'},
        {"repair", no_argument, NULL, 'R'},     {"deep", no_argument, NULL, 'D'},
        {"jobs", required_argument, NULL, 'j'}, {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    const char *root_option = NULL, *config_option = NULL;
    int repair = 0, deep = 0, json = 0;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned jobs = cores > 0 ? (unsigned)cores : 1;
    int option;
    opterr = 0;
    while ((option = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (option) {
        case 'r':
            root_option = optarg;
            break;
        case 'c':
            config_option = optarg;
            break;
        case 'R':
            repair = 1;
            break;
        case 'D':
            deep = 1;
            break;
        case 'j':
            if (parse_jobs(optarg, &jobs) < 0) {
                fprintf(stderr, "cairn-fsck: %s\n", error_message());
                return EXIT_USAGE;
            }
            break;
        case 'J':
            json = 1;
            break;
        case 'h':
            usage(stdout);
            return EXIT_SOUND;
        default:
            fprintf(stderr, "cairn-fsck: unknown or incomplete option \"%s\"\n", argv[optind - 1]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cairn-fsck: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    if ((root_option == NULL) == (config_option == NULL)) {
        fprintf(stderr, "cairn-fsck: give exactly one of --root and --config\n");
        usage(stderr);
        return EXIT_USAGE;
    }

    char root[TREE_PATH_MAX];
    struct tree tree;
    struct blob_store *store = NULL;
    struct config config;
    if (tool_settings_from_arguments(root_option, config_option, &config, root) < 0) {
        fprintf(stderr, "cairn-fsck: %s\n", error_message());
        return EXIT_USAGE;
    }
    int opened = tree_open(&tree, root, 0);
    if (opened == 0)
        opened = tool_blob_store_open(&config, &tree, &store);
    config_release(&config);
    if (opened < 0) {
        fprintf(stderr, "cairn-fsck: %s\n", error_message());
        return EXIT_USAGE;
    }

    /* --repair writes the tree: killed midway, it is an unclean stop. */
    struct run_marker marker = {.fd = -1};
    if (repair && run_marker_enter(&tree, "cairn-fsck", &marker) < 0) {
        fprintf(stderr, "cairn-fsck: %s\n", error_message());
        blob_store_destroy(store);
        return EXIT_USAGE;
    }

    struct fsck_options options = {
        .repair = repair,
        .jobs = jobs,
        .deep = deep,
        .progress = tool_is_terminal(STDERR_FILENO),
        .now = (long long)time(NULL),
        .stale_upload_seconds = FSCK_STALE_UPLOAD_SECONDS,
    };
    struct fsck_report report;
    fsck_report_init(&report);
    int result = fsck_run(&tree, store, &options, &report);
    if (result < 0) {
        fprintf(stderr, "cairn-fsck: %s\n", error_message());
        fsck_report_clear(&report);
        blob_store_destroy(store);
        run_marker_leave(&marker);
        return EXIT_USAGE;
    }
    if (json)
        fsck_report_print_json(stdout, &report);
    else
        fsck_report_print_human(stdout, &report);
    int status = report.problem_count == 0 ? EXIT_SOUND : EXIT_PROBLEMS;
    fsck_report_clear(&report);
    blob_store_destroy(store);
    run_marker_leave(&marker);
    if (fflush(stdout) != 0)
        return EXIT_USAGE;
    return status;
}
