/* workers.h - a small pool of threads for work that must not run on the loop thread: agent
 * thinking, script validation, password hashing.
 *
 * A job is two functions: work(arg) runs on a worker thread; done(arg) then runs on the loop
 * thread (through loop_post). The job owns arg throughout and frees it in done. Jobs start in
 * the order they were submitted; with more than one thread they may finish in any order. */
#ifndef MT_WORKERS_H
#define MT_WORKERS_H

typedef void (*worker_fn)(void *arg);

/* Starts n threads. Returns 0, or -1 when a thread cannot be created. */
int workers_init(int n);

/* Queues a job. Returns 0, or -1 when the pool is stopping (neither function will run; arg
 * stays the caller's). Loop thread only. */
int workers_submit(worker_fn work, worker_fn done, void *arg);

/* Like workers_submit, but the job goes to the head of the queue, before jobs already waiting:
 * for short jobs that others wait on (refilling the pools of ready Lua states). done may be
 * NULL: no done step, and like a cleanup job it runs at shutdown if still queued. */
int workers_submit_first(worker_fn work, worker_fn done, void *arg);

/* Queues a job without a done step: work(arg) runs on a worker thread and owns arg. It is how
 * freeing that need not happen on the loop (a finished room's Lua states) is moved off it.
 * Cleanup jobs still queued at workers_shutdown run there, on the calling thread, so what they
 * own is not leaked. Returns 0, or -1 when the pool is stopping: the caller then does the work
 * itself. Loop thread only. */
int workers_submit_cleanup(worker_fn work, void *arg);

/* Jobs with a done step queued or running. */
int workers_pending(void);

/* Stops the threads after the running jobs finish; queued jobs are dropped with their done
 * functions not called (their args leak: this is for process exit), except cleanup jobs,
 * which run here. */
void workers_shutdown(void);

#endif
