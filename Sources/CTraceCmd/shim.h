#ifndef SHADOWBELL_CTRACECMD_SHIM_H
#define SHADOWBELL_CTRACECMD_SHIM_H
#include <trace-cmd.h>
#include <event-parse.h>

/* Exported by libtracecmd (trace-cmd 3.x) but missing from its public header: the next record
 * of any CPU, in time order (the per-CPU merge `trace-cmd report` itself reads through). */
struct tep_record *tracecmd_read_next_data(struct tracecmd_input *handle, int *rec_cpu);
struct tep_record *tracecmd_peek_next_data(struct tracecmd_input *handle, int *rec_cpu);
int tracecmd_cpus(struct tracecmd_input *handle);

/* tep_print_event is variadic, which Swift cannot call: the event's own print format applied
 * to a record (what `trace-cmd report` shows after the event name). */
static inline void shadowbell_print_info(struct tep_handle *tep, struct trace_seq *s, struct tep_record *record)
{
	tep_print_event(tep, s, record, "%s", TEP_PRINT_INFO);
}
#endif
