/*
 * src/registry/upload_purger.h — the server's periodic removal of stale uploads
 * (storage.maintenance.uploadpurging, as in Distribution).
 *
 * A thread wakes every `interval` and removes uploads whose startedat is
 * older than `age` (layout/upload_purge.h does the work), logging each run.
 * The settings are read from the current snapshot at every wake-up, so a
 * reload can enable, disable or retime it; the first run is one interval
 * after start, like Distribution's. Stopping wakes the thread at once.
 *
 *     struct upload_purger *purger;
 *     upload_purger_start(&registry->tree, &purger);
 *     ...
 *     upload_purger_stop(purger);
 */
#ifndef CAIRN_SRC_REGISTRY_UPLOAD_PURGER_H
#define CAIRN_SRC_REGISTRY_UPLOAD_PURGER_H

#include "layout/tree.h"

struct upload_purger;

int upload_purger_start(const struct tree *tree, struct upload_purger **purger_out);
void upload_purger_stop(struct upload_purger *purger);

#endif
