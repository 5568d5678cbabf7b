#ifndef SLUICE_CPOSTGRES_SHIM_H
#define SLUICE_CPOSTGRES_SHIM_H
/* libpq (Debian libpq-dev; libpq.pc adds -I/usr/include/postgresql). Queries go
 * through PQexecParams with text parameters, never by splicing values into SQL.
 * No shims: every libpq call Swift needs is a plain, non-variadic function.
 * See https://www.postgresql.org/docs/current/libpq.html */
#include <libpq-fe.h>
#endif
