/*
 * registry.c - the table of jobs a pool can run, by name, and the marker
 * that says the program calls weft_procpool_child_main.
 *
 * The table is filled in main() before any thread starts and only read
 * afterwards (by submitters, to refuse an unknown name at once, and by the
 * worker, to find the function), so it needs no lock: registering after
 * weft_procpool_child_main is refused, and pools start after it.
 */
#include <errno.h>
#include <string.h>

#include "procpool/procpool-int.h"

struct entry {
    char name[WEFT_PROCPOOL_NAME_MAX + 1];
    weft_procjob_fn fn;
};

static struct entry table[PP_MAX_JOBS];
static unsigned n_entries;
static bool main_called;

int weft_procpool_register(const char *name, weft_procjob_fn fn)
{
    if (!name || !fn || !*name || strlen(name) > WEFT_PROCPOOL_NAME_MAX)
        return -EINVAL;
    if (main_called)
        return -EBUSY;
    if (weft__procjob_lookup(name))
        return -EEXIST;
    if (n_entries == PP_MAX_JOBS)
        return -ENOSPC;
    strcpy(table[n_entries].name, name);
    table[n_entries].fn = fn;
    n_entries++;
    return 0;
}

weft_procjob_fn weft__procjob_lookup(const char *name)
{
    for (unsigned i = 0; i < n_entries; i++)
        if (!strcmp(table[i].name, name))
            return table[i].fn;
    return NULL;
}

bool weft__procpool_main_called(void)
{
    return main_called;
}

/* Defined in child.c: the worker's whole life. */
WEFT_NORETURN void weft__procpool_worker(int argc, char **argv) WEFT_INTERNAL;

void weft_procpool_child_main(int argc, char **argv)
{
    main_called = true;
    if (argc >= 2 && argv && argv[1] && !strcmp(argv[1], PP_WORKER_FLAG))
        weft__procpool_worker(argc, argv);
}
