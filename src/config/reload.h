/*
 * src/config/reload.h — reloading the configuration while cairn runs: on SIGHUP
 * (reload_now) and whenever the config file, the htpasswd file or a TLS
 * file changes (inotify).
 *
 * The watcher watches the directories that hold those files, not the files,
 * so that editors that write a temporary file and rename it over the old one,
 * and Kubernetes' swap of a "..data" symlink, are seen. Events are debounced
 * (200 ms) and then one reload runs: config_load() of the file, then
 * runtime_build() of everything derived from it, then runtime_publish(). A
 * failure at any step logs the reason and keeps the running snapshot. Every
 * reload is logged with what changed, counted in the metrics, and announced
 * to systemd (RELOADING=1, then READY=1). After each reload the set of
 * watched directories follows the new configuration.
 *
 *     struct reloader *reloader;
 *     reloader_start(&options, &reloader);
 *     ... on SIGHUP: reload_now(reloader, "SIGHUP");
 *     reloader_stop(reloader);
 */
#ifndef CAIRN_SRC_CONFIG_RELOAD_H
#define CAIRN_SRC_CONFIG_RELOAD_H

struct reloader;
struct options;

/* `options` (the config path and the flags that win over the file) must
 * outlive the reloader. Without a config path only SIGHUP reloads, which
 * re-reads the TLS and htpasswd files. Once the watches are set it reloads
 * once, quietly, to catch an edit made while cairn was starting: call it
 * before serving. */
int reloader_start(const struct options *options, struct reloader **reloader_out);
/* Reloads now (serialised with the watcher's reloads); 0 when the new
 * configuration was published. */
int reload_now(struct reloader *reloader, const char *why);
void reloader_stop(struct reloader *reloader);

#endif
