/*
 * The process callback of the daemon's native JACK client (livegen/live/jack_rt.py), in C.
 *
 * Why C: JACK runs a client's process callback on its real-time thread once per cycle, and the
 * MIDI a cycle received exists only during that cycle. JACK-Client's callbacks are Python, so each
 * cycle first waits for the GIL; while the inference thread held it, whole cycles went by and their
 * input was lost (issue 13: a burst of 2,164 messages arrived whole in a plain rtmidi client, whose
 * callback is C, and short in the daemon in 8 of 10 runs). Here the callback touches no Python:
 * input goes into a lock-free ring that a Python thread drains, output comes from a ring the
 * scheduler fills. It does everything the Python callback in jack_ports.py did, in the same order.
 *
 * No JACK headers or link-time libjack: the few functions used are looked up with dlsym in the
 * libjack JACK-Client has already loaded, so the file builds with a bare C compiler. It is a plain
 * shared library loaded with ctypes (no Python API), built when a compiler is there; without it the
 * daemon keeps the Python callback (jack_ports.JackVirtualClient).
 *
 * Threads: one producer and one consumer per ring (input: JACK thread -> reader thread; output:
 * scheduler thread -> JACK thread), so head and tail need only acquire/release atomics.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

typedef uint32_t nframes_t;
typedef struct {
    nframes_t time;
    size_t size;
    unsigned char *buffer;
} midi_event_t;
typedef int (*process_cb_t)(nframes_t, void *);

static void *(*jk_port_get_buffer)(void *, nframes_t);
static uint32_t (*jk_midi_get_event_count)(void *);
static int (*jk_midi_event_get)(midi_event_t *, void *, uint32_t);
static void (*jk_midi_clear_buffer)(void *);
static int (*jk_midi_event_write)(void *, nframes_t, const unsigned char *, size_t);
static nframes_t (*jk_last_frame_time)(const void *);
static nframes_t (*jk_frames_since_cycle_start)(const void *);
static int (*jk_port_connected)(const void *);
static int (*jk_set_process_callback)(void *, process_cb_t, void *);

#define MSG_MAX 12  /* longer messages are SysEx, which the daemon ignores anyway */
#define RING 8192   /* records per ring, a power of two: 8k messages is ~3 s of a dense burst */
#define FRONT 128   /* messages written before the ring's in a cycle: resent note-offs, programs */
#define LEDGER 256  /* note-offs remembered for resending after a missed cycle */

typedef struct {
    int64_t t_ns; /* input: when it arrived; output: when it is due (0: at once) */
    uint8_t len;
    uint8_t data[MSG_MAX];
} record_t;

typedef struct {
    record_t slot[RING];
    _Atomic uint64_t head; /* written by the producer */
    _Atomic uint64_t tail; /* written by the consumer */
} ring_t;

typedef struct {
    nframes_t frame;
    uint8_t data[3];
    uint8_t len;
} written_off_t;

enum { /* counters, in the order lg_rt_stats reports them */
    EVENTS_IN, MISSED_CYCLES, LATE_CALLBACKS, DROPPED_OUT, RESENT_OFFS, INPUT_OVERFLOW,
    FIRST_CYCLE, RT_PRIORITY, CYCLES, N_STATS
};

typedef struct {
    void *client, *inport, *outport;
    double ns_per_frame;
    nframes_t window_frames; /* how far back before a gap a written note-off may be lost */
    int wake_fd;             /* eventfd: the reader thread sleeps on it */
    ring_t in, out;
    record_t front[FRONT];
    int front_len;
    record_t owed_again[LEDGER];
    int owed_again_len;
    written_off_t ledger[LEDGER];
    int ledger_len;
    uint8_t program[16][2];
    uint8_t has_program[16];
    int listeners;
    int have_last_frame;
    nframes_t last_frame;
    _Atomic int64_t stats[N_STATS];
    _Atomic int stall_us; /* tests: sleep this long in the next cycle, as an overloaded box would */
} rt_state_t;

static const char *resolve(void) {
    void *lib = dlopen("libjack.so.0", RTLD_NOW | RTLD_NOLOAD);
    if (!lib) lib = dlopen("libjack.so.0", RTLD_NOW);
    if (!lib) return "libjack.so.0 is not loaded";
#define LOOK(var, sym)                                  \
    *(void **)(&var) = dlsym(lib, sym);                 \
    if (!var) return "libjack lacks " sym;
    LOOK(jk_port_get_buffer, "jack_port_get_buffer")
    LOOK(jk_midi_get_event_count, "jack_midi_get_event_count")
    LOOK(jk_midi_event_get, "jack_midi_event_get")
    LOOK(jk_midi_clear_buffer, "jack_midi_clear_buffer")
    LOOK(jk_midi_event_write, "jack_midi_event_write")
    LOOK(jk_last_frame_time, "jack_last_frame_time")
    LOOK(jk_frames_since_cycle_start, "jack_frames_since_cycle_start")
    LOOK(jk_port_connected, "jack_port_connected")
    LOOK(jk_set_process_callback, "jack_set_process_callback")
#undef LOOK
    return NULL;
}

static int64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* time.monotonic_ns() on Linux */
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int is_note_on(const uint8_t *m, int len) {
    return len == 3 && (m[0] & 0xF0) == 0x90 && m[2] > 0;
}

static int is_note_off(const uint8_t *m, int len) {
    return len == 3 && ((m[0] & 0xF0) == 0x80 || ((m[0] & 0xF0) == 0x90 && m[2] == 0));
}

static int ends_sound(const uint8_t *m, int len) { /* a note-off, all-notes-off, all-sound-off */
    if (len == 3 && (m[0] & 0xF0) == 0xB0) return m[1] == 123 || m[1] == 120;
    return is_note_off(m, len);
}

static int would_end(const uint8_t *m, int channel, int pitch) {
    if ((m[0] & 0x0F) != channel) return 0;
    return (m[0] & 0xF0) == 0xB0 || m[1] == pitch;
}

/* The ledger: jack_ports.NoteOffLedger, with a fixed array. */
static void ledger_written(rt_state_t *s, nframes_t frame, const uint8_t *m, int len) {
    if (is_note_on(m, len)) { /* written again, an earlier note-off would end this new note */
        int kept = 0;
        for (int i = 0; i < s->ledger_len; i++)
            if (!would_end(s->ledger[i].data, m[0] & 0x0F, m[1])) s->ledger[kept++] = s->ledger[i];
        s->ledger_len = kept;
    } else if (ends_sound(m, len)) {
        if (s->ledger_len == LEDGER) { /* full: forget the oldest */
            memmove(s->ledger, s->ledger + 1, (LEDGER - 1) * sizeof(written_off_t));
            s->ledger_len--;
        }
        written_off_t *w = &s->ledger[s->ledger_len++];
        w->frame = frame;
        w->len = 3;
        memcpy(w->data, m, 3);
    }
    int old = 0; /* frame arithmetic wraps like JACK's: compare differences, not values */
    while (old < s->ledger_len && (int32_t)(frame - s->ledger[old].frame) > (int32_t)s->window_frames)
        old++;
    if (old) {
        memmove(s->ledger, s->ledger + old, (s->ledger_len - old) * sizeof(written_off_t));
        s->ledger_len -= old;
    }
}

static void front_push(rt_state_t *s, const uint8_t *m, int len) {
    if (s->front_len == FRONT) return;
    record_t *r = &s->front[s->front_len++];
    r->t_ns = 0;
    r->len = (uint8_t)len;
    memcpy(r->data, m, (size_t)len);
}

/* Write one message; on success remember what the ledger and the newcomer rule need. */
static int write_out(rt_state_t *s, void *buf, nframes_t frame, nframes_t offset, const uint8_t *m,
                     int len) {
    if (jk_midi_event_write(buf, offset, m, (size_t)len) != 0) return -1;
    ledger_written(s, frame, m, len);
    if (len == 2 && (m[0] & 0xF0) == 0xC0) {
        s->program[m[0] & 0x0F][0] = m[0];
        s->program[m[0] & 0x0F][1] = m[1];
        s->has_program[m[0] & 0x0F] = 1;
    }
    return 0;
}

static int process(nframes_t frames, void *arg) {
    rt_state_t *s = arg;
    if (!atomic_load(&s->stats[FIRST_CYCLE])) {
        int policy;
        struct sched_param param;
        if (pthread_getschedparam(pthread_self(), &policy, &param) == 0 && policy == SCHED_FIFO)
            atomic_store(&s->stats[RT_PRIORITY], param.sched_priority);
        atomic_store(&s->stats[FIRST_CYCLE], 1);
    }
    int stall = atomic_exchange(&s->stall_us, 0);
    if (stall > 0) usleep((useconds_t)stall);
    atomic_fetch_add(&s->stats[CYCLES], 1);
    nframes_t frame = jk_last_frame_time(s->client);

    /* owed from the last cycle: it followed a gap (it may have been the late one whose buffer
     * the server no longer takes; measured: written there only, a note-off never arrived), or
     * its buffer was full */
    s->front_len = 0;
    for (int i = 0; i < s->owed_again_len; i++) front_push(s, s->owed_again[i].data, s->owed_again[i].len);
    s->owed_again_len = 0;
    int late = s->have_last_frame && (int32_t)(frame - s->last_frame) > (int32_t)frames;
    if (late) {
        atomic_fetch_add(&s->stats[MISSED_CYCLES], (int64_t)((frame - s->last_frame) / frames) - 1);
        for (int i = 0; i < s->ledger_len; i++) {
            written_off_t *w = &s->ledger[i];
            if ((int32_t)(s->last_frame - w->frame) <= (int32_t)s->window_frames) {
                front_push(s, w->data, w->len);
                atomic_fetch_add(&s->stats[RESENT_OFFS], 1);
            }
        }
    }
    s->have_last_frame = 1;
    s->last_frame = frame;

    void *out = jk_port_get_buffer(s->outport, frames);
    /* counted every cycle, so only a connection made later counts as someone new */
    int listeners = jk_port_connected(s->outport);
    if (listeners > s->listeners) { /* someone new on `out`: the instruments before any note */
        record_t programs[16];
        int n = 0;
        for (int c = 0; c < 16; c++)
            if (s->has_program[c]) {
                programs[n].len = 2;
                memcpy(programs[n].data, s->program[c], 2);
                n++;
            }
        if (n) { /* programs go first, before the resent note-offs */
            int keep = s->front_len < FRONT - n ? s->front_len : FRONT - n;
            memmove(s->front + n, s->front, (size_t)keep * sizeof(record_t));
            memcpy(s->front, programs, (size_t)n * sizeof(record_t));
            s->front_len = keep + n;
        }
    }
    s->listeners = listeners;

    jk_midi_clear_buffer(out);
    nframes_t since = jk_frames_since_cycle_start(s->client);
    if (since > frames) atomic_fetch_add(&s->stats[LATE_CALLBACKS], 1);
    int64_t start_ns = monotonic_ns() - (int64_t)(since * s->ns_per_frame + 0.5);

    int full = 0;
    for (int i = 0; i < s->front_len && !full; i++) {
        if (write_out(s, out, frame, 0, s->front[i].data, s->front[i].len) != 0) {
            /* the buffer is full: what is left is owed in the next cycle */
            for (int j = i; j < s->front_len && s->owed_again_len < LEDGER; j++)
                s->owed_again[s->owed_again_len++] = s->front[j];
            atomic_fetch_add(&s->stats[DROPPED_OUT], 1);
            full = 1;
        }
    }
    nframes_t offset = 0; /* events go into a cycle's buffer in time order */
    uint64_t tail = atomic_load_explicit(&s->out.tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&s->out.head, memory_order_acquire);
    while (!full && tail != head) {
        record_t *r = &s->out.slot[tail & (RING - 1)];
        if (r->t_ns) {
            double at = (double)(r->t_ns - start_ns) / s->ns_per_frame;
            if (at >= frames - 0.5) break; /* a later cycle's */
            if (at > 0) {
                nframes_t at_frame = (nframes_t)(at + 0.5);
                if (at_frame > offset) offset = at_frame;
            }
        }
        if (write_out(s, out, frame, offset, r->data, r->len) != 0) {
            atomic_fetch_add(&s->stats[DROPPED_OUT], 1); /* stays first: out at once next cycle */
            break;
        }
        tail++;
    }
    atomic_store_explicit(&s->out.tail, tail, memory_order_release);
    if (late) {
        /* this cycle may be the late one whose buffer the server no longer takes: every
         * note-off written in it (resent or new) is written again in the next one, after
         * anything the full buffer left over */
        for (int i = 0; i < s->ledger_len && s->owed_again_len < LEDGER; i++)
            if (s->ledger[i].frame == frame) {
                record_t *again = &s->owed_again[s->owed_again_len++];
                again->len = s->ledger[i].len;
                memcpy(again->data, s->ledger[i].data, s->ledger[i].len);
            }
    }

    void *in = jk_port_get_buffer(s->inport, frames);
    uint32_t count = jk_midi_get_event_count(in);
    uint64_t in_head = atomic_load_explicit(&s->in.head, memory_order_relaxed);
    uint64_t in_tail = atomic_load_explicit(&s->in.tail, memory_order_acquire);
    int arrived = 0;
    for (uint32_t i = 0; i < count; i++) {
        midi_event_t ev;
        if (jk_midi_event_get(&ev, in, i) != 0) continue;
        atomic_fetch_add(&s->stats[EVENTS_IN], 1);
        if (ev.size == 0 || ev.buffer[0] == 0xF0 || ev.buffer[0] == 0xFE) continue; /* SysEx, active sensing */
        if (ev.size > MSG_MAX) continue;
        if (in_head - in_tail >= RING) {
            atomic_fetch_add(&s->stats[INPUT_OVERFLOW], 1);
            continue;
        }
        record_t *r = &s->in.slot[in_head & (RING - 1)];
        r->t_ns = start_ns + (int64_t)(ev.time * s->ns_per_frame + 0.5);
        r->len = (uint8_t)ev.size;
        memcpy(r->data, ev.buffer, ev.size);
        in_head++;
        arrived = 1;
    }
    if (arrived) {
        atomic_store_explicit(&s->in.head, in_head, memory_order_release);
        uint64_t one = 1;
        ssize_t ignored = write(s->wake_fd, &one, sizeof one);
        (void)ignored;
    }
    return 0;
}

/* ---- called from Python (ctypes releases the GIL around each call) ---- */

const char *lg_rt_resolve(void) { return resolve(); }

void *lg_rt_new(void *client, void *inport, void *outport, double sample_rate, uint32_t window_frames) {
    rt_state_t *s = calloc(1, sizeof(rt_state_t));
    if (!s) return NULL;
    s->client = client;
    s->inport = inport;
    s->outport = outport;
    s->ns_per_frame = 1e9 / sample_rate;
    s->window_frames = window_frames;
    s->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (s->wake_fd < 0) {
        free(s);
        return NULL;
    }
    return s;
}

int lg_rt_install(rt_state_t *s) { return jk_set_process_callback(s->client, process, s); }

int lg_rt_wake_fd(rt_state_t *s) { return s->wake_fd; }

/* Queue a message for `out` (the scheduler thread only). 0: queued; -1: ring full; -2: too long */
int lg_rt_send(rt_state_t *s, const uint8_t *data, int len, int64_t due_ns) {
    if (len <= 0 || len > MSG_MAX) return -2;
    uint64_t head = atomic_load_explicit(&s->out.head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&s->out.tail, memory_order_acquire);
    if (head - tail >= RING) return -1;
    record_t *r = &s->out.slot[head & (RING - 1)];
    r->t_ns = due_ns;
    r->len = (uint8_t)len;
    memcpy(r->data, data, (size_t)len);
    atomic_store_explicit(&s->out.head, head + 1, memory_order_release);
    return 0;
}

int lg_rt_pending(rt_state_t *s) {
    return (int)(atomic_load(&s->out.head) - atomic_load(&s->out.tail));
}

/* Take up to n arrived messages: times[i], lens[i], data[i * MSG_MAX ...]. Returns how many. */
int lg_rt_read(rt_state_t *s, int64_t *times, uint8_t *lens, uint8_t *data, int n) {
    uint64_t tail = atomic_load_explicit(&s->in.tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&s->in.head, memory_order_acquire);
    int got = 0;
    while (tail != head && got < n) {
        record_t *r = &s->in.slot[tail & (RING - 1)];
        times[got] = r->t_ns;
        lens[got] = r->len;
        memcpy(data + (size_t)got * MSG_MAX, r->data, MSG_MAX);
        got++;
        tail++;
    }
    atomic_store_explicit(&s->in.tail, tail, memory_order_release);
    return got;
}

void lg_rt_stats(rt_state_t *s, int64_t *out, int n) {
    for (int i = 0; i < n && i < N_STATS; i++) out[i] = atomic_load(&s->stats[i]);
}

void lg_rt_stall_next_cycle(rt_state_t *s, int microseconds) { atomic_store(&s->stall_us, microseconds); }

/* After the client is deactivated: the callback runs no more. */
void lg_rt_free(rt_state_t *s) {
    close(s->wake_fd);
    free(s);
}

int lg_rt_message_max(void) { return MSG_MAX; }
/* Raised whenever a function's signature or a record's layout changes: a library built from an
 * older checkout is refused rather than misread. */
int lg_rt_version(void) { return 1; }
