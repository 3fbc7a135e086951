/* Uses the installed headers and library; prints the version it linked. */
#include <stdio.h>
#include <string.h>
#include <weft/weft.h>

int main(void)
{
    weft_future_t *f = weft_promise_new();
    if (!f || weft_future_fulfill_int(f, 42) != 0 || weft_future_int(f) != 42)
        return 1;
    weft_future_unref(f);
    printf("consumer linked weft %s\n", weft_version_string());
    return strcmp(weft_version_string(), "0.1.0") != 0;
}
