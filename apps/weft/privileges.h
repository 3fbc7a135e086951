/* privileges.h - dropping root after binding (--user, --group). */
#ifndef WEFT_APP_PRIVILEGES_H
#define WEFT_APP_PRIVILEGES_H

/* Become user (name or number) and group (name or number; NULL: the
   user's primary group), with only that group as supplementary group.
   Every thread of the process changes (glibc applies set*id to all).
   Returns 0, or 2 after one line on stderr naming the problem. */
int privileges_drop(const char *user, const char *group);

#endif
