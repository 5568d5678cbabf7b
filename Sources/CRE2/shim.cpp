#include "CRE2.h"

#include <re2/re2.h>

struct sluice_re2 {
    RE2 regex;
    sluice_re2(const re2::StringPiece &pattern, const RE2::Options &options) : regex(pattern, options) {}
};

extern "C" sluice_re2 *sluice_re2_new(const char *pattern, size_t length, int case_insensitive) {
    RE2::Options options;
    options.set_posix_syntax(true);
    options.set_longest_match(false);
    options.set_dot_nl(true);
    // As glibc's ERE did: ^ and $ at the text's ends only; \w \s \d \b kept (GNU extensions).
    options.set_one_line(true);
    options.set_perl_classes(true);
    options.set_word_boundary(true);
    options.set_case_sensitive(!case_insensitive);
    options.set_log_errors(false);
    auto *regex = new sluice_re2(re2::StringPiece(pattern, length), options);
    if (!regex->regex.ok()) {
        delete regex;
        return nullptr;
    }
    return regex;
}

extern "C" void sluice_re2_free(sluice_re2 *regex) { delete regex; }

extern "C" int sluice_re2_find(const sluice_re2 *regex, const char *text, size_t length, size_t start,
                               size_t *match_start, size_t *match_end) {
    re2::StringPiece input(text, length), match;
    if (start > length || !regex->regex.Match(input, start, length, RE2::UNANCHORED, &match, 1)) return 0;
    *match_start = static_cast<size_t>(match.data() - text);
    *match_end = *match_start + match.size();
    return 1;
}
