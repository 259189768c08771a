/*
 * A shared library that is not a libretro core: it exports no retro_*
 * symbols, so the frontend must refuse to load it.
 *
 * Build:
 *   gcc -shared -fPIC -O1 -Wall -o notacore.so notacore.c
 */
int hello(void);

int hello(void)
{
	return 42;
}
