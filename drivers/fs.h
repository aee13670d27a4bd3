/*
 * drivers/fs.h — the filesystem blob store: blobs live in the tree itself at
 * T/blobs/<alg>/<hex[0:2]>/<hex>/data, exactly where Distribution's
 * filesystem driver keeps them.
 *
 * Commit is a rename of the verified upload file into place (never a copy),
 * followed by fsync of the blob's directory; put writes through
 * atomic_file_write(). The tree must outlive the store.
 *
 *     struct blob_store *store;
 *     if (blob_store_fs_create(&tree, &store) < 0) ...
 *     ...
 *     blob_store_destroy(store);
 */
#ifndef CAIRN_DRIVERS_FS_H
#define CAIRN_DRIVERS_FS_H

#include "drivers/blob_store.h"
#include "layout/tree.h"

int blob_store_fs_create(const struct tree *tree, struct blob_store **store_out);

#endif
