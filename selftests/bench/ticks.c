// SPDX-License-Identifier: MIT
/*
 * ticks [PID|-]: print "DAEMON GUEST" CPU time in clock ticks: utime+stime
 * of PID (every thread; 0 for "-") and the machine's busy time (all of
 * /proc/stat's first line but idle and iowait). fio runs it before and
 * after each benchmark job (exec_prerun/exec_postrun); one small exec
 * instead of a shell and two awks, because under TCG every exec costs
 * tenths of a second.
 */
#include <stdio.h>
#include <string.h>

static unsigned long long pid_ticks(const char *pid)
{
	unsigned long long ut = 0, st = 0;
	char path[64], buf[1024], *p;
	FILE *f;

	if (!strcmp(pid, "-"))
		return 0;
	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	/* after "(comm)": state is field 3, utime 14 and stime 15 */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &ut, &st) != 2)
		return 0;
	return ut + st;
}

static unsigned long long busy_ticks(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");

	if (!f)
		return 0;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
		   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8)
		v[0] = v[1] = v[2] = v[5] = v[6] = v[7] = 0;
	fclose(f);
	/* user nice system [idle iowait] irq softirq steal */
	return v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
}

int main(int argc, char **argv)
{
	printf("%llu %llu\n", pid_ticks(argc > 1 ? argv[1] : "-"), busy_ticks());
	return 0;
}
