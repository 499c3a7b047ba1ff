// SPDX-License-Identifier: MIT
/*
 * Print this machine's TSC rate in kHz, measured against CLOCK_MONOTONIC.
 *
 * Under TCG the guest's RDTSC returns the host's TSC, and the guest kernel
 * calibrates its rate at boot against emulated timers; on a loaded host
 * that calibration can be far off, and the guest's clock then runs fast
 * or slow (seen: 8300 guest seconds in 700 real ones, every timeout in the
 * tests wrong by as much). run.sh passes the measured rate as
 * tsc_early_khz=, which the guest uses instead of calibrating.
 *
 * Both clocks are read back to back at each end, so a preemption in
 * between costs microseconds out of the 200 ms measured; the median of
 * three runs keeps one unlucky run out.
 */
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

static double measure_khz(void)
{
	struct timespec a, b, nap = { 0, 200 * 1000 * 1000 };
	unsigned long long t0, t1;
	double secs;

	clock_gettime(CLOCK_MONOTONIC, &a);
	t0 = __rdtsc();
	nanosleep(&nap, NULL);
	t1 = __rdtsc();
	clock_gettime(CLOCK_MONOTONIC, &b);
	secs = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	return (t1 - t0) / secs / 1000;
}

int main(void)
{
	double k[3], t;

	for (int i = 0; i < 3; i++)
		k[i] = measure_khz();
	/* median of three */
	if (k[0] > k[1]) { t = k[0]; k[0] = k[1]; k[1] = t; }
	if (k[1] > k[2]) { t = k[1]; k[1] = k[2]; k[2] = t; }
	if (k[0] > k[1]) { t = k[0]; k[0] = k[1]; k[1] = t; }
	printf("%.0f\n", k[1]);
	return 0;
}
