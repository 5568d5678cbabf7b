#ifndef SLUICE_CFASTCGI_SHIM_H
#define SLUICE_CFASTCGI_SHIM_H
/* libfcgi (Debian libfcgi-dev). Swift can call fcgiapp.h directly; nothing to shim. */
#include <fcgiapp.h>
#endif
