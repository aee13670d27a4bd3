/* src/http/worker_pool.h */
#include "src/http/worker_pool.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layout/error.h"

#define BODY_SLICE (1024 * 1024)

struct worker_pool {
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    struct request_work *head, *tail;
    unsigned queued, queue_limit; /* waiting works; limit 0: none */
    int stopping;
    atomic_ulong outstanding;
    unsigned thread_count;
    pthread_t threads[];
};

/* Lives in the request's pool; h2o calls guard_dispose when it frees the request. */
struct request_guard {
    struct request_work *work;
};

static void guard_dispose(void *memory)
{
    struct request_guard *guard = memory;
    struct request_work *work = guard->work;
    if (work == NULL)
        return;
    pthread_rwlock_wrlock(&work->body_lock);
    work->body = h2o_iovec_init(NULL, 0);
    work->request = NULL;
    work->guard = NULL;
    pthread_rwlock_unlock(&work->body_lock);
}

void request_work_init(struct request_work *work, h2o_req_t *request,
                       h2o_multithread_receiver_t *receiver, void (*run)(struct request_work *work),
                       void (*complete)(struct request_work *work))
{
    memset(&work->message, 0, sizeof work->message);
    work->receiver = receiver;
    work->next_queued = NULL;
    work->run = run;
    work->complete = complete;
    work->request = request;
    work->body = request->entity;
    work->result = 0;
    work->error_text[0] = '\0';
    /* Writer-preferring: a request being freed must not wait behind two
     * threads taking turns reading the body. */
    pthread_rwlockattr_t attributes;
    pthread_rwlockattr_init(&attributes);
    pthread_rwlockattr_setkind_np(&attributes, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&work->body_lock, &attributes);
    pthread_rwlockattr_destroy(&attributes);
    work->guard = h2o_mem_alloc_shared(&request->pool, sizeof *work->guard, guard_dispose);
    work->guard->work = work;
}

void request_work_set_result(struct request_work *work, int result)
{
    work->result = result;
    if (result < 0)
        snprintf(work->error_text, sizeof work->error_text, "%s", error_message());
    else
        work->error_text[0] = '\0';
}

void request_work_dispose(struct request_work *work)
{
    if (work->guard != NULL)
        work->guard->work = NULL;
    work->guard = NULL;
    pthread_rwlock_destroy(&work->body_lock);
}

/* A large body lives in a file mapping that h2o re-mapped as it grew, so its
 * pages are not in our page tables yet; one madvise per slice maps them in
 * at once instead of taking a fault every few pages. Purely a speed-up. */
static void prefault(const char *data, size_t length)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)data & ~(page - 1);
    uintptr_t end = (uintptr_t)data + length;
    if (length >= 64 * 1024)
        madvise((void *)start, end - start, MADV_POPULATE_READ);
}

int request_work_consume_body(struct request_work *work, size_t offset,
                              int (*consume)(void *context, const char *data, size_t length),
                              void *context)
{
    for (;;) {
        pthread_rwlock_rdlock(&work->body_lock);
        if (work->body.base == NULL && work->request == NULL) {
            pthread_rwlock_unlock(&work->body_lock);
            return error_set(-ECANCELED, "client went away");
        }
        if (offset >= work->body.len) {
            pthread_rwlock_unlock(&work->body_lock);
            return 0;
        }
        size_t length = work->body.len - offset;
        if (length > BODY_SLICE)
            length = BODY_SLICE;
        prefault(work->body.base + offset, length);
        int result = consume(context, work->body.base + offset, length);
        pthread_rwlock_unlock(&work->body_lock);
        if (result != 0)
            return result;
        offset += length;
    }
}

static void *worker_main(void *argument)
{
    struct worker_pool *pool = argument;
    pthread_mutex_lock(&pool->mutex);
    for (;;) {
        while (pool->head == NULL && !pool->stopping)
            pthread_cond_wait(&pool->wake, &pool->mutex);
        struct request_work *work = pool->head;
        if (work == NULL)
            break; /* stopping and nothing left */
        pool->head = work->next_queued;
        if (pool->head == NULL)
            pool->tail = NULL;
        pool->queued--;
        pthread_mutex_unlock(&pool->mutex);
        work->run(work);
        h2o_multithread_send_message(work->receiver, &work->message);
        pthread_mutex_lock(&pool->mutex);
    }
    pthread_mutex_unlock(&pool->mutex);
    return NULL;
}

int worker_pool_start(unsigned thread_count, unsigned queue_limit, struct worker_pool **pool_out)
{
    struct worker_pool *pool = calloc(1, sizeof *pool + thread_count * sizeof(pthread_t));
    if (pool == NULL)
        return error_set(-ENOMEM, "out of memory");
    pool->queue_limit = queue_limit;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->wake, NULL);
    for (unsigned i = 0; i < thread_count; i++) {
        int result = pthread_create(&pool->threads[i], NULL, worker_main, pool);
        if (result != 0) {
            pool->thread_count = i;
            worker_pool_stop(pool);
            return error_set(-result, "cannot start worker thread: %s", strerror(result));
        }
    }
    pool->thread_count = thread_count;
    *pool_out = pool;
    return 0;
}

void worker_pool_stop(struct worker_pool *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->mutex);
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    for (unsigned i = 0; i < pool->thread_count; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->wake);
    free(pool);
}

static int submit(struct worker_pool *pool, struct request_work *work, int bounded)
{
    pthread_mutex_lock(&pool->mutex);
    if (bounded && pool->queue_limit > 0 && pool->queued >= pool->queue_limit) {
        pthread_mutex_unlock(&pool->mutex);
        return error_set(-EBUSY, "too many requests waiting for a worker");
    }
    atomic_fetch_add(&pool->outstanding, 1);
    work->pool = pool;
    work->next_queued = NULL;
    if (pool->tail != NULL)
        pool->tail->next_queued = work;
    else
        pool->head = work;
    pool->tail = work;
    pool->queued++;
    pthread_cond_signal(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    return 0;
}

void worker_pool_submit(struct worker_pool *pool, struct request_work *work)
{
    submit(pool, work, 0);
}

void worker_pool_post(struct worker_pool *pool, struct request_work *work)
{
    atomic_fetch_add(&pool->outstanding, 1);
    work->pool = pool;
    h2o_multithread_send_message(work->receiver, &work->message);
}

int worker_pool_try_submit(struct worker_pool *pool, struct request_work *work)
{
    return submit(pool, work, 1);
}

void worker_pool_receive(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *message =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&message->link);
        struct request_work *work = H2O_STRUCT_FROM_MEMBER(struct request_work, message, message);
        struct worker_pool *pool = work->pool;
        work->complete(work);
        atomic_fetch_sub(&pool->outstanding, 1);
    }
}

unsigned long worker_pool_outstanding(struct worker_pool *pool)
{
    return atomic_load(&pool->outstanding);
}
