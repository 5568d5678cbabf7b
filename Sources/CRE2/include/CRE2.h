// A C face for the few RE2 calls Sluice makes (RE2 is C++). RE2 matches in time linear
// in the text, whatever the pattern: guardrail patterns run on hostile request bodies.
#ifndef SLUICE_CRE2_H
#define SLUICE_CRE2_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sluice_re2 sluice_re2;

/// Compiles a POSIX extended regular expression (`.` matches newlines; case-insensitive
/// when asked). Returns NULL when it cannot be compiled.
sluice_re2 *sluice_re2_new(const char *pattern, size_t length, int case_insensitive);
void sluice_re2_free(sluice_re2 *regex);

/// The leftmost match in text[start..<length]: 1 with its bounds, or 0.
int sluice_re2_find(const sluice_re2 *regex, const char *text, size_t length, size_t start,
                    size_t *match_start, size_t *match_end);

#ifdef __cplusplus
}
#endif

#endif
