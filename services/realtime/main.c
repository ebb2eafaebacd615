/* tm-realtime: wiring pending. */
#include <stdio.h>
int main(void)
{
    fprintf(stderr, "tm-realtime: not implemented yet\n");
    return 1;
}
