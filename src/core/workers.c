#include "workers.h"

#include "loop.h"

#include <pthread.h>
#include <stdlib.h>

struct job {
    worker_fn work, done;
    void *arg;
    struct job *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static struct job *head, *tail;
static pthread_t *threads;
static int n_threads, stopping, pending;

static void finish(void *p)
{
    struct job *j = p;
    pending--;
    j->done(j->arg);
    free(j);
}

static void *run(void *unused)
{
    for (;;) {
        pthread_mutex_lock(&lock);
        while (!head && !stopping)
            pthread_cond_wait(&wake, &lock);
        if (stopping) {
            pthread_mutex_unlock(&lock);
            return NULL;
        }
        struct job *j = head;
        head = j->next;
        if (!head) tail = NULL;
        pthread_mutex_unlock(&lock);
        j->work(j->arg);
        if (!j->done || loop_post(finish, j) < 0) free(j); /* no done step, or process exit */
    }
}

int workers_init(int n)
{
    threads = calloc((size_t)n, sizeof *threads);
    if (!threads) return -1;
    for (int i = 0; i < n; i++) {
        if (pthread_create(&threads[i], NULL, run, NULL) != 0) return -1;
        n_threads++;
    }
    return 0;
}

static int enqueue(worker_fn work, worker_fn done, void *arg, int first)
{
    struct job *j = malloc(sizeof *j);
    if (!j) return -1;
    j->work = work;
    j->done = done;
    j->arg = arg;
    j->next = NULL;
    pthread_mutex_lock(&lock);
    if (stopping) {
        pthread_mutex_unlock(&lock);
        free(j);
        return -1;
    }
    if (first) {
        j->next = head;
        head = j;
        if (!tail) tail = j;
    } else {
        if (tail)
            tail->next = j;
        else
            head = j;
        tail = j;
    }
    if (done) pending++;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    return 0;
}

int workers_submit(worker_fn work, worker_fn done, void *arg)
{
    return enqueue(work, done, arg, 0);
}

int workers_submit_first(worker_fn work, worker_fn done, void *arg)
{
    return enqueue(work, done, arg, 1);
}

int workers_submit_cleanup(worker_fn work, void *arg)
{
    return enqueue(work, NULL, arg, 0);
}

int workers_pending(void)
{
    return pending;
}

void workers_shutdown(void)
{
    pthread_mutex_lock(&lock);
    stopping = 1;
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n_threads; i++)
        pthread_join(threads[i], NULL);
    struct job *j = head;
    while (j) {
        struct job *next = j->next;
        if (!j->done) j->work(j->arg);
        free(j);
        j = next;
    }
    head = tail = NULL;
    free(threads);
    threads = NULL;
    n_threads = 0;
}
