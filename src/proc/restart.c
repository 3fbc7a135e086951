/*
 * restart.c - restart intensity: how often a supervisor may restart what
 * keeps dying before it slows down (Erlang's intensity and period, with a
 * doubling backoff instead of giving up: a server that stops restarting
 * its workers is down, one that restarts them too fast burns the machine).
 */
#include "weft/proc.h"

static int64_t or_default(int64_t v, int64_t dflt)
{
    return v > 0 ? v : dflt;
}

void weft_restarts_init(weft_restarts_t *r, const weft_restart_policy_t *policy)
{
    weft_restart_policy_t p = policy ? *policy : (weft_restart_policy_t){0};
    *r = (weft_restarts_t){0};
    r->policy.intensity = p.intensity ? p.intensity : 5;
    if (r->policy.intensity > WEFT_RESTART_WINDOW)
        r->policy.intensity = WEFT_RESTART_WINDOW;
    r->policy.period_ms = or_default(p.period_ms, 10000);
    r->policy.backoff_ms = or_default(p.backoff_ms, 100);
    r->policy.max_backoff_ms = or_default(p.max_backoff_ms, 10000);
    if (r->policy.max_backoff_ms < r->policy.backoff_ms)
        r->policy.max_backoff_ms = r->policy.backoff_ms;
    r->backoff_ms = r->policy.backoff_ms;
}

unsigned weft_restarts_recent(const weft_restarts_t *r, int64_t now_ms)
{
    unsigned n = 0;
    for (unsigned i = 0; i < r->count; i++)
        if (now_ms - r->at_ms[i] < r->policy.period_ms)
            n++;
    return n;
}

int64_t weft_restarts_next(weft_restarts_t *r, int64_t now_ms)
{
    if (!r->policy.intensity) /* zeroed, never initialised */
        weft_restarts_init(r, NULL);
    unsigned recent = weft_restarts_recent(r, now_ms);
    r->at_ms[r->next] = now_ms;
    r->next = (r->next + 1) % r->policy.intensity;
    if (r->count < r->policy.intensity)
        r->count++;
    if (recent < r->policy.intensity) {
        r->backoff_ms = r->policy.backoff_ms; /* calm again */
        return 0;
    }
    int64_t delay = r->backoff_ms;
    r->backoff_ms = delay * 2 > r->policy.max_backoff_ms ? r->policy.max_backoff_ms : delay * 2;
    return delay;
}
