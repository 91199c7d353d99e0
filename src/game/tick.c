#include "tick.h"

#include "log.h"
#include "loop.h"
#include "metrics.h"

#include <event2/event.h>
#include <stdlib.h>

struct tick_entry {
    void *room;
    tick_fn fn;
    const char *label;
    uint64_t start_us, period_num; /* tick n is due at start_us + n * 1e6 / rate */
    int rate;
    uint64_t next; /* the next tick's number */
    uint64_t due_us;
    int heap_index;
    int (*idle)(void *room); /* see tick_set_idle */
};

static struct tick_entry **heap;
static int heap_len, heap_cap;
static struct event *timer;
static struct tick_entry *running; /* the entry whose tick_fn runs now */
static int running_removed;
static struct metric *m_tick_duration, *m_tick_lateness, *m_ticks_dropped;

const double tick_ms_buckets[TICK_MS_NBUCKETS] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                  1,    2,     5,    10,  20,   50};

static uint64_t due_of(const struct tick_entry *e, uint64_t n)
{
    return e->start_us + n * 1000000u / (uint64_t)e->rate;
}

static void swap(int a, int b)
{
    struct tick_entry *t = heap[a];
    heap[a] = heap[b];
    heap[b] = t;
    heap[a]->heap_index = a;
    heap[b]->heap_index = b;
}

static void sift_up(int i)
{
    while (i > 0 && heap[(i - 1) / 2]->due_us > heap[i]->due_us) {
        swap(i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void sift_down(int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < heap_len && heap[l]->due_us < heap[m]->due_us) m = l;
        if (r < heap_len && heap[r]->due_us < heap[m]->due_us) m = r;
        if (m == i) return;
        swap(i, m);
        i = m;
    }
}

static void heap_remove(struct tick_entry *e)
{
    int i = e->heap_index;
    if (i < 0) return;
    heap_len--;
    if (i != heap_len) {
        heap[i] = heap[heap_len];
        heap[i]->heap_index = i;
        sift_down(i);
        sift_up(i);
    }
    e->heap_index = -1;
}

static void arm(void)
{
    if (!heap_len) {
        event_del(timer);
        return;
    }
    uint64_t now = loop_now_us(), due = heap[0]->due_us;
    uint64_t wait = due > now ? due - now : 0;
    struct timeval tv = {(time_t)(wait / 1000000u), (suseconds_t)(wait % 1000000u)};
    event_add(timer, &tv);
}

/* Runs one tick of e. Returns 0 to keep e, -1 when it ended. A room more than
 * TICK_MAX_CATCHUP periods behind after its tick skips the rest of its backlog (counted), so a
 * slow room never spirals; it stays on its grid of start + n / rate. */
static int run_entry(struct tick_entry *e, uint64_t now)
{
    metric_observe(m_tick_lateness, e->label,
                   now > e->due_us ? (double)(now - e->due_us) / 1000.0 : 0);
    uint64_t t0 = loop_now_us();
    running = e;
    running_removed = 0;
    int rc = e->fn(e->room, e->next);
    running = NULL;
    uint64_t t1 = loop_now_us();
    metric_observe(m_tick_duration, e->label, (double)(t1 - t0) / 1000.0);
    if (rc < 0 || running_removed) return -1;
    e->next++;
    e->due_us = due_of(e, e->next);
    uint64_t period = 1000000u / (uint64_t)e->rate;
    if (t1 - t0 > period && t1 > e->due_us) {
        /* The tick itself overran its period: catching up would only take more of the loop
         * from the other rooms. Skip to the next point of the grid still ahead. */
        uint64_t ahead = (t1 - e->start_us) * (uint64_t)e->rate / 1000000u + 1;
        metric_add(m_ticks_dropped, e->label, (double)(ahead - e->next));
        e->next = ahead;
        e->due_us = due_of(e, e->next);
    } else if (t1 > e->due_us + TICK_MAX_CATCHUP * period) {
        uint64_t current = (t1 - e->start_us) * (uint64_t)e->rate / 1000000u; /* the tick due now */
        metric_add(m_ticks_dropped, e->label, (double)(current - e->next));
        e->next = current;
        e->due_us = due_of(e, e->next);
    }
    return 0;
}

/* Runs the rooms whose deadline has come, oldest deadline first, one tick per room per turn:
 * a slow room takes its turn like any other and cannot starve the rest. The batch stops after
 * TICK_BATCH_US so sockets are served between batches, or, when the loop spent longer than
 * that elsewhere since the last batch, after as long as that (up to TICK_BATCH_MAX_US): under
 * overload the rooms keep at least half of the loop, and reading inputs slows down instead
 * (TCP pushes back on the senders). Without this, one turn of the loop could read thousands
 * of inputs while the rooms got 5 ms, and the games stopped moving. */
#define TICK_BATCH_US 5000
#define TICK_BATCH_MAX_US 50000

void tick_set_idle(struct tick_entry *entry, int (*idle)(void *room))
{
    entry->idle = idle;
}

/* Idle tasks until `until`: entries in heap order from a cursor kept across calls, each at
 * most once per call. */
static void run_idle(uint64_t until)
{
    static int cursor;
    for (int visited = 0; visited < heap_len && loop_now_us() < until; visited++) {
        if (cursor >= heap_len) cursor = 0;
        struct tick_entry *e = heap[cursor++];
        if (e->idle) e->idle(e->room);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    static uint64_t last_end;
    uint64_t start = loop_now_us(), now = start;
    uint64_t elsewhere = last_end && start > last_end ? start - last_end : 0;
    uint64_t budget = elsewhere > TICK_BATCH_US ? elsewhere : TICK_BATCH_US;
    if (budget > TICK_BATCH_MAX_US) budget = TICK_BATCH_MAX_US;
    while (heap_len && heap[0]->due_us <= now + 500 && now - start < budget) {
        struct tick_entry *e = heap[0];
        if (run_entry(e, now) < 0) {
            heap_remove(e);
            free(e);
        } else {
            sift_down(e->heap_index);
        }
        now = loop_now_us();
    }
    if (heap_len && heap[0]->due_us > now + TICK_IDLE_MIN_US) {
        uint64_t until = heap[0]->due_us - TICK_IDLE_MARGIN_US;
        run_idle(until < now + TICK_IDLE_MAX_US ? until : now + TICK_IDLE_MAX_US);
        now = loop_now_us();
    }
    last_end = now;
    arm();
}

int tick_init(void)
{
    m_tick_duration = metrics_histogram("tick_duration_ms", "Time one room tick takes, ms", "game",
                                        tick_ms_buckets, TICK_MS_NBUCKETS);
    m_tick_lateness = metrics_histogram("tick_lateness_ms",
                                        "How late a room tick started against its deadline, ms",
                                        "game", tick_ms_buckets, TICK_MS_NBUCKETS);
    m_ticks_dropped =
        metrics_counter("ticks_dropped_total", "Ticks skipped after an overrun, by game", "game");
    timer = evtimer_new(loop_base(), on_timer, NULL);
    return timer && m_tick_duration && m_tick_lateness && m_ticks_dropped ? 0 : -1;
}

void tick_shutdown(void)
{
    for (int i = 0; i < heap_len; i++)
        free(heap[i]);
    free(heap);
    heap = NULL;
    heap_len = heap_cap = 0;
    if (timer) event_free(timer);
    timer = NULL;
}

struct tick_entry *tick_add(void *room, int rate, tick_fn fn, const char *metric_label)
{
    if (rate < 1) rate = 1;
    if (rate > 60) rate = 60;
    if (heap_len == heap_cap) {
        int cap = heap_cap ? heap_cap * 2 : 64;
        struct tick_entry **grown = realloc(heap, sizeof *grown * (size_t)cap);
        if (!grown) return NULL;
        heap = grown;
        heap_cap = cap;
    }
    struct tick_entry *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->room = room;
    e->fn = fn;
    e->label = metric_label;
    e->rate = rate;
    e->start_us = loop_now_us();
    e->next = 1;
    e->due_us = due_of(e, 1);
    e->heap_index = heap_len;
    heap[heap_len++] = e;
    sift_up(e->heap_index);
    arm();
    return e;
}

void tick_remove(struct tick_entry *e)
{
    if (!e) return;
    if (e == running) { /* inside its own tick: the scheduler frees it on return */
        running_removed = 1;
        return;
    }
    heap_remove(e);
    free(e);
    arm();
}

int tick_count(void)
{
    return heap_len;
}
