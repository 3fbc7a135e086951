/*
 * weft/weft.h - the umbrella header: includes every public header of weft.
 *
 * Layers, lowest first (a header only includes the ones below it):
 *   error.h   negative-errno results, weft_strerror, the log sink, version
 *   sync.h    queue, event, semaphore, wait group, recursive and scoped locks
 *   future.h  promise/future: wait with timeout, on_settle, all/any, cancel
 *   pool.h    supervised worker pool: submit, parallel for, close, stats
 *   loop.h    event loops on libuv: post, then/work, notifiers, delays,
 *             loop groups, stats (the only header that includes uv.h)
 *   http.h    requests and responses as a handler sees them
 *   app.h     an application: its handler and state, frozen once served
 *   server.h  N loops, listeners, limits, stop
 *   plugin.h  plugins: versioned init/fini, static or loaded from a .so
 *   proc.h    child processes (posix_spawn of the program itself), restart
 *             intensity, shared memory, crash notes
 *   procpool.h  supervised worker processes running jobs by name, results
 *             as futures (crash isolation)
 */
#ifndef WEFT_WEFT_H
#define WEFT_WEFT_H

#include "weft/error.h"
#include "weft/sync.h"
#include "weft/future.h"
#include "weft/pool.h"
#include "weft/loop.h"
#include "weft/http.h"
#include "weft/app.h"
#include "weft/server.h"
#include "weft/plugin.h"
#include "weft/proc.h"
#include "weft/procpool.h"

#endif /* WEFT_WEFT_H */
