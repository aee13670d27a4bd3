/*
 * src/config/options.h — how the server was asked to run: the command line, over
 * the config file (src/config/config.h), over built-in defaults.
 *
 * options_parse() starts from config_defaults(), loads the file given with
 * --config (if any), then applies --root, --listen and --threads over it.
 * With --check-config FILE it only loads FILE: warnings go to `errors`, then
 * "FILE: ok" to stdout, or the error with its line to `errors`.
 *
 * options sits above config.h and runtime.h (which it uses for the file and
 * for --check-config); neither of them uses options, so the command line
 * can change without touching the reader. The HOST:PORT grammar of --listen
 * is the file's (config_split_address, config.h). The defaults the help
 * prints are src/config/defaults.h's.
 *
 *     struct options options;
 *     int result = options_parse(&options, argc, argv, stderr);
 *     // 0: run with options.config;
 *     // 1: --help, --version or a good --check-config printed: exit 0;
 *     // <0: message printed: exit 1 if options.check_only, else 2 (usage).
 *     ...
 *     options_release(&options); // whatever the result
 */
#ifndef CAIRN_SRC_CONFIG_OPTIONS_H
#define CAIRN_SRC_CONFIG_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "src/config/config.h"

struct options {
    char *config_path; /* --config FILE as given, NULL if none (the reloader reads it again) */
    struct config config;
    int check_only; /* --check-config FILE */
    /* --root, --listen, --threads as given (NULL if not): they win over the
     * file at every reload too (options_apply_flags). */
    char *flag_root, *flag_listen, *flag_threads;
};

/* Fills `options` from defaults, then the config file (--config), then flags.
 * Messages go to `errors`. Always leaves `options` releasable. */
int options_parse(struct options *options, int argc, char **argv, FILE *errors);

/* Applies the flags over a configuration (one just reloaded from the file). */
int options_apply_flags(const struct options *options, struct config *config, FILE *errors);

/* Frees the configuration and the path. */
void options_release(struct options *options);

#endif
