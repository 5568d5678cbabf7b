#ifndef SLUICE_CLINUX_SHIM_H
#define SLUICE_CLINUX_SHIM_H
/* What the Glibc module leaves out: glibc's malloc tuning (mallopt, malloc_trim) and
   Linux's epoll and accept4 (the worker's connection dispatcher; accept4 is
   declared only under _GNU_SOURCE). */
#include <malloc.h>
#include <sys/epoll.h>
struct sockaddr;
int accept4(int sockfd, struct sockaddr *addr, unsigned int *addrlen, int flags);
#endif
