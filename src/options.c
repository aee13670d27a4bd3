/* src/options.h */
#include "src/options.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "version.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cairn [--config FILE] [--root DIR] [--listen HOST:PORT] [--threads N]\n"
            "\n"
            "An OCI Distribution registry whose whole state is a directory tree.\n"
            "\n"
            "  --config FILE       read settings from a YAML file (flags win over it)\n"
            "  --root DIR          root directory of the tree (default " OPTIONS_DEFAULT_ROOT ")\n"
            "  --listen HOST:PORT  address to listen on (default " OPTIONS_DEFAULT_LISTEN ")\n"
            "  --threads N         event loops (default: one per core)\n"
            "  --help              print this help and exit\n"
            "  --version           print the version and exit\n");
}

static int parse_listen(struct options *options, const char *text, FILE *errors)
{
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon[1] == '\0' || strlen(colon + 1) >= sizeof options->listen_port) {
        fprintf(errors, "cairn: --listen wants HOST:PORT, got '%s'\n", text);
        return -EINVAL;
    }
    const char *host = text;
    size_t host_length = (size_t)(colon - text);
    if (host_length >= 2 && host[0] == '[' && host[host_length - 1] == ']') {
        host++;
        host_length -= 2;
    }
    if (host_length >= sizeof options->listen_host) {
        fprintf(errors, "cairn: listen host too long\n");
        return -EINVAL;
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535) {
        fprintf(errors, "cairn: bad port in '%s'\n", text);
        return -EINVAL;
    }
    memcpy(options->listen_host, host, host_length);
    options->listen_host[host_length] = '\0';
    strcpy(options->listen_port, colon + 1);
    return 0;
}

static int parse_count(const char *text, uint64_t maximum, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value == 0 || value > maximum ||
        text[0] == '-')
        return -EINVAL;
    *out = value;
    return 0;
}

static int set_root(struct options *options, const char *value, FILE *errors)
{
    if (value[0] == '\0' || strlen(value) >= sizeof options->root_directory) {
        fprintf(errors, "cairn: bad root directory '%s'\n", value);
        return -EINVAL;
    }
    strcpy(options->root_directory, value);
    return 0;
}

static int set_threads(unsigned *out, const char *value, const char *what, FILE *errors)
{
    uint64_t count;
    if (parse_count(value, 1024, &count) < 0) {
        fprintf(errors, "cairn: %s wants a number from 1 to 1024, got '%s'\n", what, value);
        return -EINVAL;
    }
    *out = (unsigned)count;
    return 0;
}

/* One setting of the config file, by its dotted key. */
static int apply_setting(struct options *options, const char *key, const char *value,
                         unsigned long line, FILE *errors)
{
    uint64_t number;
    if (strcmp(key, "storage.filesystem.rootdirectory") == 0)
        return set_root(options, value, errors);
    if (strcmp(key, "http.addr") == 0)
        return parse_listen(options, value, errors);
    if (strcmp(key, "storage.delete.enabled") == 0) {
        options->delete_enabled = strcmp(value, "true") == 0;
        return 0;
    }
    if (strcmp(key, "cairn.threads") == 0)
        return set_threads(&options->threads, value, "cairn.threads", errors);
    if (strcmp(key, "cairn.workers") == 0)
        return set_threads(&options->workers, value, "cairn.workers", errors);
    if (strcmp(key, "cairn.max_body_size") == 0 || strcmp(key, "cairn.request_timeout") == 0 ||
        strcmp(key, "cairn.shutdown_grace") == 0) {
        if (parse_count(value, UINT64_MAX / 2, &number) < 0) {
            fprintf(errors, "cairn: line %lu: %s wants a positive number\n", line, key);
            return -EINVAL;
        }
        if (strcmp(key, "cairn.max_body_size") == 0)
            options->max_body_size = number;
        else if (strcmp(key, "cairn.request_timeout") == 0)
            options->request_timeout_seconds = number;
        else
            options->shutdown_grace_seconds = number;
        return 0;
    }
    if (strncmp(key, "cairn.", 6) == 0) {
        fprintf(errors, "cairn: line %lu: unknown key %s\n", line, key);
        return -EINVAL;
    }
    fprintf(errors, "cairn: line %lu: %s is not used by cairn yet, ignored\n", line, key);
    return 0;
}

/* Walks the YAML mappings keeping the dotted path of keys; scalars become
 * settings. Sequences are skipped as a whole. */
static int load_config(struct options *options, const char *path, FILE *errors)
{
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        fprintf(errors, "cairn: cannot open config %s: %s\n", path, strerror(errno));
        return -errno;
    }
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, file);

    char key_path[1024] = "";
    size_t key_lengths[32];
    int depth = 0, expecting_key[32] = {0}, sequence_depth = 0, result = 0, done = 0;
    while (!done && result == 0) {
        yaml_event_t event;
        if (!yaml_parser_parse(&parser, &event)) {
            fprintf(errors, "cairn: %s:%lu: %s\n", path,
                    (unsigned long)parser.problem_mark.line + 1,
                    parser.problem != NULL ? parser.problem : "YAML error");
            result = -EINVAL;
            break;
        }
        unsigned long line = (unsigned long)event.start_mark.line + 1;
        switch (event.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_SEQUENCE_START_EVENT:
            sequence_depth++;
            break;
        case YAML_SEQUENCE_END_EVENT:
            sequence_depth--;
            if (sequence_depth == 0 && depth > 0) {
                expecting_key[depth - 1] = 1;
                key_path[key_lengths[depth - 1]] = '\0';
            }
            break;
        case YAML_MAPPING_START_EVENT:
            if (sequence_depth > 0)
                break;
            if (depth == 32) {
                fprintf(errors, "cairn: %s:%lu: nested too deeply\n", path, line);
                result = -EINVAL;
                break;
            }
            key_lengths[depth] = strlen(key_path);
            expecting_key[depth++] = 1;
            break;
        case YAML_MAPPING_END_EVENT:
            if (sequence_depth > 0)
                break;
            depth--;
            key_path[key_lengths[depth]] = '\0';
            if (depth > 0) {
                expecting_key[depth - 1] = 1;
                key_path[key_lengths[depth - 1]] = '\0';
            }
            break;
        case YAML_SCALAR_EVENT: {
            if (sequence_depth > 0 || depth == 0)
                break;
            const char *text = (const char *)event.data.scalar.value;
            if (expecting_key[depth - 1]) {
                size_t base = key_lengths[depth - 1];
                int written = snprintf(key_path + base, sizeof key_path - base, "%s%s",
                                       base > 0 ? "." : "", text);
                if (written < 0 || (size_t)written >= sizeof key_path - base) {
                    fprintf(errors, "cairn: %s:%lu: key too long\n", path, line);
                    result = -EINVAL;
                }
                expecting_key[depth - 1] = 0;
            } else {
                result = apply_setting(options, key_path, text, line, errors);
                expecting_key[depth - 1] = 1;
                key_path[key_lengths[depth - 1]] = '\0';
            }
            break;
        }
        default:
            break;
        }
        yaml_event_delete(&event);
    }
    yaml_parser_delete(&parser);
    fclose(file);
    return result;
}

int options_parse(struct options *options, int argc, char **argv, FILE *errors)
{
    static const struct option long_options[] = {{"config", required_argument, NULL, 'c'},
                                                 {"root", required_argument, NULL, 'r'},
                                                 {"listen", required_argument, NULL, 'l'},
                                                 {"threads", required_argument, NULL, 't'},
                                                 {"help", no_argument, NULL, 'h'},
                                                 {"version", no_argument, NULL, 'v'},
                                                 {NULL, 0, NULL, 0}};
    const char *config = NULL, *root = NULL, *listen = NULL, *threads = NULL;

    memset(options, 0, sizeof *options);
    strcpy(options->root_directory, OPTIONS_DEFAULT_ROOT);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    options->threads = cores > 0 ? (unsigned)cores : 1;
    options->workers = 4;
    options->max_body_size = 16ULL << 30;
    options->request_timeout_seconds = 900;
    options->shutdown_grace_seconds = 30;
    options->delete_enabled = 1;
    if (parse_listen(options, OPTIONS_DEFAULT_LISTEN, errors) < 0)
        return -EINVAL;

    optind = 1;
    opterr = 0;
    int option;
    while ((option = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (option) {
        case 'c':
            config = optarg;
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
    if (config != NULL && load_config(options, config, errors) < 0)
        return -EINVAL;
    if (root != NULL && set_root(options, root, errors) < 0)
        return -EINVAL;
    if (listen != NULL && parse_listen(options, listen, errors) < 0)
        return -EINVAL;
    if (threads != NULL && set_threads(&options->threads, threads, "--threads", errors) < 0)
        return -EINVAL;
    return 0;
}
