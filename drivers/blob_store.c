/* drivers/blob_store.h */
#include "drivers/blob_store.h"

#include <errno.h>
#include <stdlib.h>

#include "layout/error.h"

int blob_store_stat(struct blob_store *store, const struct digest *digest, struct blob_info *out)
{
    return store->operations->stat(store, digest, out);
}

int blob_store_open(struct blob_store *store, const struct digest *digest,
                    struct blob_reader **reader_out, struct blob_info *info_out)
{
    return store->operations->open(store, digest, reader_out, info_out);
}

ssize_t blob_reader_read(struct blob_reader *reader, void *buffer, size_t length, int64_t offset)
{
    return reader->operations->read(reader, buffer, length, offset);
}

int blob_reader_ready(struct blob_reader *reader, int64_t offset, size_t length,
                      void (*wake)(void *context), void *context)
{
    if (reader->operations->ready == NULL)
        return 1;
    return reader->operations->ready(reader, offset, length, wake, context);
}

void blob_reader_close(struct blob_reader *reader)
{
    if (reader != NULL)
        reader->operations->close(reader);
}

int blob_store_read_all(struct blob_store *store, const struct digest *digest, size_t size_max,
                        char **data_out, size_t *length_out)
{
    struct blob_reader *reader;
    struct blob_info info;
    *data_out = NULL;
    *length_out = 0;
    int result = blob_store_open(store, digest, &reader, &info);
    if (result < 0)
        return result;
    if (info.size < 0 || (uint64_t)info.size > size_max) {
        blob_reader_close(reader);
        return error_set(-EFBIG, "blob %s has %lld bytes, more than %zu", digest->string,
                         (long long)info.size, size_max);
    }
    size_t size = (size_t)info.size;
    char *data = malloc(size + 1);
    if (data == NULL) {
        blob_reader_close(reader);
        return error_set(-ENOMEM, "out of memory for a %zu-byte blob", size);
    }
    size_t length = 0;
    while (length < size) {
        ssize_t n = blob_reader_read(reader, data + length, size - length, (int64_t)length);
        if (n <= 0) {
            result = n < 0 ? (int)n
                           : error_set(-EIO, "blob %s is shorter than its size", digest->string);
            break;
        }
        length += (size_t)n;
    }
    blob_reader_close(reader);
    if (result < 0) {
        free(data);
        return result;
    }
    data[size] = '\0';
    *data_out = data;
    *length_out = size;
    return 0;
}

int blob_store_commit(struct blob_store *store, const char *file_path, const struct digest *digest)
{
    return store->operations->commit(store, file_path, digest);
}

int blob_store_prepare(struct blob_store *store, const char *file_path, const struct digest *digest)
{
    if (store->operations->prepare == NULL)
        return 0;
    return store->operations->prepare(store, file_path, digest);
}

int blob_store_put(struct blob_store *store, const struct digest *digest, const void *data,
                   size_t length)
{
    return store->operations->put(store, digest, data, length);
}

int blob_store_freshen(struct blob_store *store, const struct digest *digest)
{
    return store->operations->freshen(store, digest);
}

int blob_store_remove(struct blob_store *store, const struct digest *digest)
{
    return store->operations->remove(store, digest);
}

int blob_store_serve(struct blob_store *store, const struct digest *digest, unsigned how,
                     struct blob_serving *out)
{
    out->reader = NULL;
    out->url[0] = '\0';
    if (store->operations->serve == NULL)
        return error_set(-ENOTSUP, "the %s store cannot serve blobs", store->operations->name);
    return store->operations->serve(store, digest, how, out);
}

int blob_store_list(struct blob_store *store, blob_store_visit visit, void *context)
{
    return store->operations->list(store, visit, context);
}

int blob_store_keeps_blobs_outside_tree(const struct blob_store *store)
{
    return (store->operations->flags & BLOB_STORE_OUTSIDE_TREE) != 0;
}

void blob_store_destroy(struct blob_store *store)
{
    if (store != NULL)
        store->operations->destroy(store);
}
