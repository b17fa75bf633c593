#ifndef GREET_H
#define GREET_H

#include <stddef.h>

/* Writes "Hello, NAME!" into buf (at most size bytes, always terminated when
 * size > 0); returns the length of the full greeting, as snprintf does. */
int greet(char *buf, size_t size, const char *name);

#endif
