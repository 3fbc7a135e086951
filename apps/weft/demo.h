/* demo.h - the demo app of the weft command (demo.c). */
#ifndef WEFT_APP_DEMO_H
#define WEFT_APP_DEMO_H

#include "weft/app.h"

/* A new demo app, or NULL with errno. */
weft_app_t *weft_demo_app_new(void);

#endif
