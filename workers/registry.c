/* The analyses this worker knows. Adding one: write workers/analyses/<name>.c and add a line. */
#include "registry.h"

#include <string.h>

extern const struct s4f_analysis s4f_analysis_protocols_statistics;
extern const struct s4f_analysis s4f_analysis_ports_scan;
extern const struct s4f_analysis s4f_analysis_host_stats;
extern const struct s4f_analysis s4f_analysis_dns_statistics;
extern const struct s4f_analysis s4f_analysis_dns_open_resolvers;
extern const struct s4f_analysis s4f_analysis_reflect_ddos;
extern const struct s4f_analysis s4f_analysis_dns_external_resolvers;
extern const struct s4f_analysis s4f_analysis_tls_classification;
extern const struct s4f_analysis s4f_analysis_top_n_host_stats;
extern const struct s4f_analysis s4f_analysis_ssh_auth_simple;
extern const struct s4f_analysis s4f_analysis_ddos;
extern const struct s4f_analysis s4f_analysis_rules;
extern const struct s4f_analysis s4f_analysis_pattern_finder;

const struct s4f_analysis *const s4f_analyses[] = {
    &s4f_analysis_protocols_statistics,
    &s4f_analysis_ports_scan,
    &s4f_analysis_host_stats,
    &s4f_analysis_dns_statistics,
    &s4f_analysis_dns_open_resolvers,
    &s4f_analysis_reflect_ddos,
    &s4f_analysis_dns_external_resolvers,
    &s4f_analysis_tls_classification,
    &s4f_analysis_top_n_host_stats,
    &s4f_analysis_ssh_auth_simple,
    &s4f_analysis_ddos,
    &s4f_analysis_rules,
    &s4f_analysis_pattern_finder,
    NULL,
};

const struct s4f_analysis *s4f_analysis_find(const char *name)
{
    for (size_t i = 0; s4f_analyses[i]; i++)
        if (strcmp(s4f_analyses[i]->name, name) == 0)
            return s4f_analyses[i];
    return NULL;
}

const char *const s4f_time_mode_choices[] = {"event", "processing", NULL};
