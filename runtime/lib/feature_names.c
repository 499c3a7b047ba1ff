// SPDX-License-Identifier: MIT
#include <stddef.h>

#include "feature_names.h"
#include "util.h"

const char *bublk_feature_name(unsigned int bit)
{
	static const char *const names[] = {
		"ZERO_COPY", "COMP_IN_TASK", "NEED_GET_DATA", "USER_RECOVERY",
		"RECOVERY_REISSUE", "UNPRIVILEGED", "CMD_IOCTL_ENCODE", "USER_COPY",
		"ZONED", "RECOVERY_FAIL_IO", "UPDATE_SIZE", "AUTO_BUF_REG",
		"QUIESCE", "PER_IO_DAEMON", "BUF_REG_OFF_DAEMON", "BATCH_IO",
		"INTEGRITY", "SAFE_STOP_DEV", "NO_AUTO_PART_SCAN", "SHMEM_ZC",
		"IO_DESC_SIZE",
	};

	return bit < ARRAY_SIZE(names) ? names[bit] : NULL;
}
