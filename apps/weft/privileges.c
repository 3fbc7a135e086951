/*
 * privileges.c - --user and --group: after the listeners are bound (ports
 * below 1024 need root) and before any request is served, the process
 * gives root up for good: supplementary groups, then the group, then the
 * user (in that order: once the user changes, the group no longer can),
 * and checks that root cannot be regained.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "privileges.h"

static bool number(const char *s, unsigned long *out)
{
    char *end;
    errno = 0;
    *out = strtoul(s, &end, 10);
    return s[0] >= '0' && s[0] <= '9' && !*end && !errno;
}

static int fail(const char *what, const char *name, int err)
{
    fprintf(stderr, "weft: %s '%s': %s\n", what, name, err ? strerror(err) : "no such entry");
    return 2;
}

/* The user's uid and primary gid. */
static int find_user(const char *user, uid_t *uid, gid_t *gid)
{
    unsigned long n;
    errno = 0;
    struct passwd *pw = number(user, &n) ? getpwuid((uid_t)n) : getpwnam(user);
    if (pw) {
        *uid = pw->pw_uid;
        *gid = pw->pw_gid;
        return 0;
    }
    if (!number(user, &n))
        return fail("--user", user, errno);
    *uid = (uid_t)n; /* a bare number needs no passwd entry */
    *gid = (gid_t)n;
    return 0;
}

static int find_group(const char *group, gid_t *gid)
{
    unsigned long n;
    if (number(group, &n)) {
        *gid = (gid_t)n;
        return 0;
    }
    errno = 0;
    struct group *gr = getgrnam(group);
    if (!gr)
        return fail("--group", group, errno);
    *gid = gr->gr_gid;
    return 0;
}

int privileges_drop(const char *user, const char *group)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    int r = user ? find_user(user, &uid, &gid) : 0;
    if (r == 0 && group)
        r = find_group(group, &gid);
    if (r)
        return r;
    if (setgroups(1, &gid) < 0 || setgid(gid) < 0)
        return fail("--group", group ? group : user, errno);
    if (user && setuid(uid) < 0)
        return fail("--user", user, errno);
    if (uid != 0 && setuid(0) == 0) {
        fprintf(stderr, "weft: --user '%s': root could be regained; refusing to run\n", user);
        return 2;
    }
    return 0;
}
