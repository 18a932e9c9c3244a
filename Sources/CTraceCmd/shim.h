#ifndef SHADOWBELL_CTRACECMD_SHIM_H
#define SHADOWBELL_CTRACECMD_SHIM_H
#include <event-parse.h>

/* tep_print_event is variadic, which Swift cannot call: the event's own print format applied
 * to a record (what `trace-cmd report` shows after the event name). */
static inline void shadowbell_print_info(struct tep_handle *tep, struct trace_seq *s, struct tep_record *record)
{
	tep_print_event(tep, s, record, "%s", TEP_PRINT_INFO);
}
#endif
