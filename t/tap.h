/*
 * tap.h: a small TAP producer for our tests, run by prove.  Every check
 * has a unique description; failures print both values and file:line.
 */
#ifndef GR_TAP_H
#define GR_TAP_H

#include <stdbool.h>
#include <stdint.h>

#define TAP_PRINTF(f, a)	__attribute__((format(printf, f, a)))

void	 plan(int n);
void	 plan_lazy(void);		/* the plan comes from done_testing */
int	 done_testing(void);		/* prints the plan if lazy; exit code */
void	 skip_all(const char *, ...) TAP_PRINTF(1, 2)
	    __attribute__((noreturn));
void	 bail_out(const char *, ...) TAP_PRINTF(1, 2)
	    __attribute__((noreturn));
void	 diag(const char *, ...) TAP_PRINTF(1, 2);
void	 skip(int n, const char *, ...) TAP_PRINTF(2, 3);

bool	 ok_at(const char *, int, bool, const char *, ...) TAP_PRINTF(4, 5);
bool	 is_int_at(const char *, int, long long, long long, const char *, ...)
	    TAP_PRINTF(5, 6);
bool	 is_str_at(const char *, int, const char *, const char *,
	    const char *, ...) TAP_PRINTF(5, 6);
bool	 like_at(const char *, int, const char *, const char *,
	    const char *, ...) TAP_PRINTF(5, 6);

#define ok(c, ...)		ok_at(__FILE__, __LINE__, (c), __VA_ARGS__)
#define is_int(g, w, ...)	is_int_at(__FILE__, __LINE__, (g), (w), \
				    __VA_ARGS__)
#define is_str(g, w, ...)	is_str_at(__FILE__, __LINE__, (g), (w), \
				    __VA_ARGS__)
/* got contains the substring want */
#define like(g, w, ...)		like_at(__FILE__, __LINE__, (g), (w), \
				    __VA_ARGS__)
#define BAIL_OUT		bail_out

#endif
