/* src/config/options.h */
#include "src/config/options.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "layout/error.h"
#include "src/config/runtime.h"
#include "version.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: cairn [--config FILE] [--root DIR] [--listen HOST:PORT] [--threads N]\n"
        "       cairn --check-config FILE\n"
        "\n"
        "An OCI Distribution registry whose whole state is a directory tree.\n"
        "\n"
        "  --config FILE        read settings from a YAML file (flags win over it)\n"
        "  --check-config FILE  validate a config file, print its warnings and exit\n"
        "  --root DIR           root directory of the tree (default " CONFIG_DEFAULT_ROOT_DIRECTORY
        ")\n"
        "  --listen HOST:PORT   address to listen on (default " CONFIG_DEFAULT_LISTEN_ADDRESS ")\n"
        "  --threads N          event loops (default: one per core)\n"
        "  --help               print this help and exit\n"
        "  --version            print the version and exit\n");
}

static int set_root(struct config *config, const char *value, FILE *errors)
{
    if (value[0] == '\0' || strlen(value) >= sizeof config->root_directory) {
        fprintf(errors, "cairn: bad root directory '%s'\n", value);
        return -EINVAL;
    }
    strcpy(config->root_directory, value);
    return 0;
}

static int set_listen(struct config *config, const char *value, FILE *errors)
{
    char host[256], port[16];
    if (config_split_address(value, host, sizeof host, port, sizeof port) < 0 ||
        strlen(value) >= sizeof config->listen_address) {
        fprintf(errors, "cairn: --listen: %s\n", error_message());
        return -EINVAL;
    }
    strcpy(config->listen_address, value);
    return 0;
}

static int set_threads(struct config *config, const char *value, FILE *errors)
{
    unsigned long count = 0;
    size_t i = 0;
    for (; value[i] >= '0' && value[i] <= '9' && count <= CONFIG_THREADS_MAX; i++)
        count = count * 10 + (unsigned long)(value[i] - '0');
    if (i == 0 || value[i] != '\0' || count < 1 || count > CONFIG_THREADS_MAX) {
        fprintf(errors, "cairn: --threads wants a number from 1 to %d, got '%s'\n",
                CONFIG_THREADS_MAX, value);
        return -EINVAL;
    }
    config->threads = (unsigned)count;
    return 0;
}

/* --check-config: the file alone, no flags, no defaults printed; loaded as
 * the server loads it at start (runtime_check_file), with the server's messages. */
static int check_config(struct options *options, const char *path, FILE *errors)
{
    options->check_only = 1;
    if (runtime_check_file(path, &options->config) < 0) {
        fprintf(errors, "cairn: %s\n", error_message());
        return -EINVAL;
    }
    for (size_t i = 0; i < options->config.warning_count; i++)
        fprintf(errors, "cairn: warning: %s\n", options->config.warnings[i]);
    printf("%s: ok\n", path);
    return 1;
}

int options_parse(struct options *options, int argc, char **argv, FILE *errors)
{
    static const struct option long_options[] = {
        {"config", required_argument, NULL, 'c'},  {"check-config", required_argument, NULL, 'C'},
        {"root", required_argument, NULL, 'r'},    {"listen", required_argument, NULL, 'l'},
        {"threads", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'v'},       {NULL, 0, NULL, 0}};
    const char *config = NULL, *check = NULL, *root = NULL, *listen = NULL, *threads = NULL;

    memset(options, 0, sizeof *options);
    config_defaults(&options->config);

    optind = 0; /* 0, not 1: getopt starts afresh (options_parse may run more than once) */
    opterr = 0;
    int option;
    while ((option = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (option) {
        case 'c':
            config = optarg;
            break;
        case 'C':
            check = optarg;
            break;
        case 'r':
            root = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 't':
            threads = optarg;
            break;
        case 'h':
            usage(stdout);
            return 1;
        case 'v':
            printf("cairn %s\n", CAIRN_VERSION);
            return 1;
        default:
            fprintf(errors, "cairn: unknown or incomplete option '%s'\n", argv[optind - 1]);
            usage(errors);
            return -EINVAL;
        }
    }
    if (optind < argc) {
        fprintf(errors, "cairn: unexpected argument '%s'\n", argv[optind]);
        usage(errors);
        return -EINVAL;
    }
    if (check != NULL) {
        if (config != NULL) {
            fprintf(errors, "cairn: --check-config and --config do not go together\n");
            return -EINVAL;
        }
        return check_config(options, check, errors);
    }
    if (config != NULL) {
        if ((options->config_path = strdup(config)) == NULL) {
            fprintf(errors, "cairn: out of memory\n");
            return -ENOMEM;
        }
        if (config_load(config, &options->config) < 0) {
            fprintf(errors, "cairn: %s\n", error_message());
            return -EINVAL;
        }
        for (size_t i = 0; i < options->config.warning_count; i++)
            fprintf(errors, "cairn: warning: %s\n", options->config.warnings[i]);
    }
    if ((root != NULL && (options->flag_root = strdup(root)) == NULL) ||
        (listen != NULL && (options->flag_listen = strdup(listen)) == NULL) ||
        (threads != NULL && (options->flag_threads = strdup(threads)) == NULL)) {
        fprintf(errors, "cairn: out of memory\n");
        return -ENOMEM;
    }
    return options_apply_flags(options, &options->config, errors);
}

int options_apply_flags(const struct options *options, struct config *config, FILE *errors)
{
    if (options->flag_root != NULL && set_root(config, options->flag_root, errors) < 0)
        return -EINVAL;
    if (options->flag_listen != NULL && set_listen(config, options->flag_listen, errors) < 0)
        return -EINVAL;
    if (options->flag_threads != NULL && set_threads(config, options->flag_threads, errors) < 0)
        return -EINVAL;
    return 0;
}

void options_release(struct options *options)
{
    free(options->config_path);
    options->config_path = NULL;
    free(options->flag_root);
    free(options->flag_listen);
    free(options->flag_threads);
    options->flag_root = options->flag_listen = options->flag_threads = NULL;
    config_release(&options->config);
}
