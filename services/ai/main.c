/* tm-ai: wiring pending. */
#include <stdio.h>
int main(void)
{
    fprintf(stderr, "tm-ai: not implemented yet\n");
    return 1;
}
