#include "loop.h"

#include "log.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct posted {
    loop_fn fn;
    void *arg;
    struct posted *next;
};

static struct event_base *base;
static uv_loop_t uv;
static struct event *uv_io_ev, *uv_timer_ev, *post_ev, *pump_ev;
static int pump_pending;
static int post_pipe[2] = {-1, -1};
static pthread_mutex_t post_lock = PTHREAD_MUTEX_INITIALIZER;
static struct posted *post_head, *post_tail;
static int post_closed;

static void rearm_uv_timer(void)
{
    int ms = uv_backend_timeout(&uv);
    if (ms < 0) {
        event_del(uv_timer_ev); /* libuv has no timer: sleep until its fd fires */
        return;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(uv_timer_ev, &tv);
}

void loop_pump(void)
{
    uv_run(&uv, UV_RUN_NOWAIT);
    rearm_uv_timer();
}

static void on_uv_ready(evutil_socket_t fd, short what, void *arg)
{
    loop_pump();
}

static void on_pump(evutil_socket_t fd, short what, void *arg)
{
    pump_pending = 0;
    loop_pump();
}

void loop_pump_soon(void)
{
    if (pump_pending || !pump_ev) return;
    pump_pending = 1;
    event_active(pump_ev, EV_TIMEOUT, 0);
}

static void (*between_fn)(void);

void loop_set_between(void (*fn)(void))
{
    between_fn = fn;
}

void loop_between(void)
{
    if (between_fn) between_fn();
}

static void on_posted(evutil_socket_t fd, short what, void *arg)
{
    char drain[256];
    while (read(fd, drain, sizeof drain) > 0) {
    }
    pthread_mutex_lock(&post_lock);
    struct posted *p = post_head;
    post_head = post_tail = NULL;
    pthread_mutex_unlock(&post_lock);
    while (p) {
        struct posted *next = p->next;
        p->fn(p->arg);
        free(p);
        p = next;
        loop_between();
    }
    loop_pump();
}

void loop_drain_posted(void)
{
    if (post_pipe[0] >= 0) on_posted(post_pipe[0], EV_READ, NULL);
}

int loop_init(void)
{
    struct event_config *ec = event_config_new();
    event_config_require_features(ec, EV_FEATURE_O1);
    event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER); /* sub-ms tick deadlines */
    base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (!base) base = event_base_new();
    if (!base || uv_loop_init(&uv) != 0) {
        log_msg(LOG_ERROR, "cannot create the event loop", NULL);
        return -1;
    }
    if (pipe2(post_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
        log_msg(LOG_ERROR, "cannot create the wake-up pipe", NULL);
        return -1;
    }
    uv_io_ev = event_new(base, uv_backend_fd(&uv), EV_READ | EV_PERSIST, on_uv_ready, NULL);
    uv_timer_ev = evtimer_new(base, on_uv_ready, NULL);
    post_ev = event_new(base, post_pipe[0], EV_READ | EV_PERSIST, on_posted, NULL);
    pump_ev = event_new(base, -1, 0, on_pump, NULL);
    event_add(uv_io_ev, NULL);
    event_add(post_ev, NULL);
    return 0;
}

struct event_base *loop_base(void)
{
    return base;
}

uv_loop_t *loop_uv(void)
{
    return &uv;
}

int loop_run(void)
{
    loop_pump();
    return event_base_dispatch(base) < 0 ? -1 : 0;
}

void loop_stop(void)
{
    event_base_loopbreak(base);
}

int loop_post(loop_fn fn, void *arg)
{
    struct posted *p = malloc(sizeof *p);
    if (!p) return -1;
    p->fn = fn;
    p->arg = arg;
    p->next = NULL;
    pthread_mutex_lock(&post_lock);
    if (post_closed) {
        pthread_mutex_unlock(&post_lock);
        free(p);
        return -1;
    }
    int was_empty = post_head == NULL;
    if (post_tail)
        post_tail->next = p;
    else
        post_head = p;
    post_tail = p;
    pthread_mutex_unlock(&post_lock);
    if (was_empty) {
        ssize_t w = write(post_pipe[1], "x", 1); /* a full pipe already means "wake up" */
        (void)w;
    }
    return 0;
}

uint64_t loop_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t loop_now_ms(void)
{
    return loop_now_us() / 1000u;
}

double loop_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)(ts.tv_nsec / 1000000);
}

void loop_free(void)
{
    pthread_mutex_lock(&post_lock);
    post_closed = 1;
    struct posted *p = post_head;
    post_head = post_tail = NULL;
    pthread_mutex_unlock(&post_lock);
    while (p) {
        struct posted *next = p->next;
        free(p);
        p = next;
    }
    if (uv_io_ev) event_free(uv_io_ev);
    if (uv_timer_ev) event_free(uv_timer_ev);
    if (post_ev) event_free(post_ev);
    if (pump_ev) event_free(pump_ev);
    uv_io_ev = uv_timer_ev = post_ev = pump_ev = NULL;
    /* lws has closed its handles by now; let libuv run their close callbacks. */
    uv_run(&uv, UV_RUN_NOWAIT);
    uv_loop_close(&uv);
    close(post_pipe[0]);
    close(post_pipe[1]);
    event_base_free(base);
    base = NULL;
}
