/*
 * weft/plugin.h - plugins: a small versioned struct whose init sets up an
 * app (routes, hooks) and whose fini undoes it, registered statically or
 * found in a shared object (Wookie's load-plugins).
 *
 * A shared object exports one function, weft_plugin_entry (write it with
 * WEFT_PLUGIN_DEFINE), returning its weft_plugin_t. It is built without
 * linking libweft: its weft_ calls resolve against the program that loads
 * it (the weft command exports the whole API; a program linking libweft.so
 * has it loaded already). See docs/plugins.md and examples/plugin-hello.c.
 *
 * State rule: a .so is mapped once per process, so its globals are shared
 * by every app that loads it. Keep per-app state in *state (init's third
 * argument) and pass it as the arg of the plugin's hooks and routes: those
 * args are borrowed for the app's life, which is exactly the state's.
 * weft_app_plugin_state finds it by name for code that has only the app.
 *
 * ABI rule: abi is the first member and always will be. The loader refuses
 * a plugin whose abi is not WEFT_PLUGIN_ABI (built against other headers);
 * WEFT_PLUGIN_ABI changes whenever this struct or a function a plugin may
 * call changes incompatibly.
 *
 * Thread-safety: weft_app_use and weft_app_load_plugin are set-up calls
 * (one thread per app, before serving), but different apps may load
 * plugins on different threads at once: every plugin init and fini in the
 * process runs under one process-wide (recursive) lock, so a plugin's init
 * never runs concurrently with another and may set up process-wide things
 * without a lock of its own. weft_app_plugin_state is safe on any loop
 * serving the (frozen) app.
 */
#ifndef WEFT_PLUGIN_H
#define WEFT_PLUGIN_H

#include "weft/app.h"
#include "weft/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_PLUGIN_ABI 1

/* The symbol a plugin shared object exports (see WEFT_PLUGIN_DEFINE). */
#define WEFT_PLUGIN_ENTRY "weft_plugin_entry"

typedef struct weft_plugin {
    unsigned abi;        /* WEFT_PLUGIN_ABI the plugin was built against */
    const char *name;    /* unique per app, e.g. "request-id" */
    const char *version; /* the plugin's own, e.g. "1.0.0" (may be NULL) */
    /* Sets up app (routes, hooks) with config (NULL when none was given;
       borrowed for the call only). *state (NULL on entry) is this app's
       state, handed back to fini. Returns 0 or a negative errno. On
       failure init undoes its own allocations; routes or hooks it already
       added stay (and its code stays mapped) until the app is freed. NULL:
       nothing to set up. */
    int (*init)(weft_app_t *app, const char *config, void **state);
    /* Called by weft_app_free, plugins in reverse order of init, before
       anything else is freed; frees state. Not called for a plugin whose
       init failed. NULL: nothing to do. */
    void (*fini)(weft_app_t *app, void *state);
} weft_plugin_t;

/* Plugin authors: WEFT_PLUGIN_DEFINE(my_plugin) after `static const
   weft_plugin_t my_plugin = {WEFT_PLUGIN_ABI, "name", "1.0", init, fini};`
   exports the entry the loader looks up. */
typedef const weft_plugin_t *(*weft_plugin_entry_fn)(void);
#if defined(__GNUC__) || defined(__clang__)
#define WEFT_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define WEFT_PLUGIN_EXPORT
#endif
#ifdef __cplusplus
#define WEFT_PLUGIN_LINKAGE extern "C"
#else
#define WEFT_PLUGIN_LINKAGE
#endif
#define WEFT_PLUGIN_DEFINE(var)                                                                    \
    WEFT_PLUGIN_LINKAGE WEFT_PLUGIN_EXPORT const weft_plugin_t *weft_plugin_entry(void);           \
    WEFT_PLUGIN_LINKAGE WEFT_PLUGIN_EXPORT const weft_plugin_t *weft_plugin_entry(void)            \
    {                                                                                              \
        return &(var);                                                                             \
    }

/*
 * weft_app_use - register plugin with app and run its init(app, config).
 * plugin is borrowed for the app's life (a static struct, or one inside a
 * loaded .so). A plugin is used once per app: its name again is -EEXIST.
 * Returns 0, -EINVAL (plugin or its name NULL or empty), -EPROTO (abi is
 * not WEFT_PLUGIN_ABI), -EEXIST, -EBUSY (app frozen), -ENOMEM, or init's
 * own error.
 */
WEFT_API int weft_app_use(weft_app_t *app, const weft_plugin_t *plugin, const char *config);

/*
 * weft_app_load_plugin - dlopen the shared object at path (RTLD_NOW |
 * RTLD_LOCAL), call its weft_plugin_entry, then weft_app_use it with
 * config. The same .so loaded into two apps is opened twice (the dynamic
 * loader counts references and maps it once) and init runs once per app,
 * each with its own state. The handle is closed by weft_app_free after
 * fini, or at once when the plugin is refused before init ran. Returns 0,
 * weft_app_use's errors, or: -ENOENT, -EACCES... (what stat says of
 * path), -ELIBBAD (not a loadable shared object, one with unresolved
 * symbols, or a path without '/' that dlopen's search did not find),
 * -ENOEXEC (no weft_plugin_entry, or it returned NULL). Failures are also
 * logged (WEFT_LOG_ERROR) with path and the loader's message.
 */
WEFT_API int weft_app_load_plugin(weft_app_t *app, const char *path, const char *config);

/* weft_app_plugin_state - the state the plugin called name made in app
   (borrowed for the app's life), or NULL when app uses no such plugin.
   Costs a walk of the app's plugins: hooks should get their state as their
   arg instead. */
WEFT_API void *weft_app_plugin_state(const weft_app_t *app, const char *name);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_PLUGIN_H */
