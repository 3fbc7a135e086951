/*
 * plugin.c - plugins (weft/plugin.h): registration, loading shared
 * objects, per-app state, fini at weft_app_free.
 *
 * An app keeps its plugins on a list, newest first, so freeing walks it in
 * reverse order of init. A plugin whose init failed stays on the list
 * (marked failed): the routes and hooks it added before failing may point
 * into its .so, which must therefore stay mapped until the app goes.
 *
 * One process-wide recursive lock serialises every init and fini (and the
 * dlopen/dlclose around them): two threads setting up two apps never run
 * plugin code at once, and a plugin's init may itself load a plugin.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#include "app/app-int.h"
#include "weft/plugin.h"

struct app_plugin {
    struct app_plugin *next;
    const weft_plugin_t *plugin;
    void *state;
    void *handle; /* dlopen's, or NULL for a static plugin */
    bool failed;  /* init failed: no fini, not found by name */
};

static pthread_mutex_t plugins_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

static struct app_plugin *find(const weft_app_t *app, const char *name)
{
    for (struct app_plugin *p = app->plugins; p; p = p->next)
        if (!p->failed && strcmp(p->plugin->name, name) == 0)
            return p;
    return NULL;
}

static int check(const weft_app_t *app, const weft_plugin_t *plugin)
{
    if (!plugin)
        return -EINVAL;
    if (plugin->abi != WEFT_PLUGIN_ABI)
        return -EPROTO; /* the other members may not even be there */
    if (!plugin->name || !plugin->name[0])
        return -EINVAL;
    if (app->frozen)
        return -EBUSY;
    return find(app, plugin->name) ? -EEXIST : 0;
}

/* Checks plugin, runs its init and records it, failed or not (what a
   failed init added may still call into its .so), taking *handle (then
   set to NULL). Recorded after init, so a plugin that init loads is
   finied after it. Called under plugins_lock. */
static int use(weft_app_t *app, const weft_plugin_t *plugin, const char *config, void **handle)
{
    int r = check(app, plugin);
    if (r < 0)
        return r;
    struct app_plugin *p = weft__calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    r = plugin->init ? plugin->init(app, config, &p->state) : 0;
    *p = (struct app_plugin){app->plugins, plugin, p->state, *handle, r < 0};
    app->plugins = p;
    *handle = NULL;
    return r < 0 ? r : 0;
}

int weft_app_use(weft_app_t *app, const weft_plugin_t *plugin, const char *config)
{
    pthread_mutex_lock(&plugins_lock);
    void *no_handle = NULL;
    int r = use(app, plugin, config, &no_handle);
    pthread_mutex_unlock(&plugins_lock);
    return r;
}

/* dlopen's failure as an errno: what stat says of path (missing,
   unreadable), else a file the loader refused. */
static int open_error(const char *path)
{
    struct stat st;
    if (strchr(path, '/') && stat(path, &st) < 0)
        return -errno;
    return -ELIBBAD;
}

/* Opens path and finds its plugin; *handle set. Under plugins_lock. */
static int open_plugin(const char *path, void **handle, const weft_plugin_t **plugin)
{
    *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!*handle) {
        int r = open_error(path);
        weft_log(WEFT_LOG_ERROR, "plugin %s: %s", path, dlerror());
        return r;
    }
    weft_plugin_entry_fn entry;
    *(void **)&entry = dlsym(*handle, WEFT_PLUGIN_ENTRY); /* POSIX's idiom */
    *plugin = entry ? entry() : NULL;
    if (*plugin)
        return 0;
    weft_log(WEFT_LOG_ERROR, "plugin %s: %s", path,
             entry ? WEFT_PLUGIN_ENTRY "() returned NULL" : "no " WEFT_PLUGIN_ENTRY " symbol");
    return -ENOEXEC;
}

static int load(weft_app_t *app, const char *path, const char *config)
{
    if (app->frozen)
        return -EBUSY; /* not worth a dlopen */
    void *handle = NULL;
    const weft_plugin_t *plugin = NULL;
    int r = open_plugin(path, &handle, &plugin);
    if (r == 0) {
        r = use(app, plugin, config, &handle);
        if (r < 0)
            weft_log(WEFT_LOG_ERROR, "plugin %s (%s): %s", path,
                     plugin->abi == WEFT_PLUGIN_ABI && plugin->name ? plugin->name : "?",
                     weft_strerror(r));
    }
    if (handle)
        dlclose(handle); /* refused before init: nothing of it is used */
    return r;
}

int weft_app_load_plugin(weft_app_t *app, const char *path, const char *config)
{
    if (!path)
        return -EINVAL;
    pthread_mutex_lock(&plugins_lock);
    int r = load(app, path, config);
    pthread_mutex_unlock(&plugins_lock);
    return r;
}

void *weft_app_plugin_state(const weft_app_t *app, const char *name)
{
    const struct app_plugin *p = name ? find(app, name) : NULL;
    return p ? p->state : NULL;
}

void weft__plugins_fini(weft_app_t *app)
{
    if (!app->plugins)
        return; /* most apps: no process-wide lock on their way out */
    pthread_mutex_lock(&plugins_lock);
    for (struct app_plugin *p = app->plugins, *next; p; p = next) {
        next = p->next;
        if (!p->failed && p->plugin->fini)
            p->plugin->fini(app, p->state);
        if (p->handle)
            dlclose(p->handle);
        weft__free(p);
    }
    app->plugins = NULL;
    pthread_mutex_unlock(&plugins_lock);
}
