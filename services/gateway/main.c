/* tm-gateway: wiring pending. */
#include <stdio.h>
int main(void)
{
    fprintf(stderr, "tm-gateway: not implemented yet\n");
    return 1;
}
