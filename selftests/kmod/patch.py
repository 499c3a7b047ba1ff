#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Turn Debian 6.12's drivers/block/ublk_drv.c into bublk's test driver.

usage: patch.py IN OUT

The new code lives in bublk_shmem.[ch] and bublk_sg.c (next to this
script); this only adds the hooks.  Every anchor must match exactly once, so
a different upstream file fails loudly instead of being patched wrongly.
"""
import sys


def sub(src, old, new, what):
    n = src.count(old)
    if n != 1:
        sys.exit(f"patch.py: anchor for {what} found {n} times, expected 1")
    return src.replace(old, new)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    s = open(sys.argv[1]).read()

    # UAPI bits missing from 6.12 and the per-device state's type
    s = sub(s, "#include <uapi/linux/ublk_cmd.h>\n",
            "#include <uapi/linux/ublk_cmd.h>\n#include \"bublk_shmem.h\"\n",
            "include")

    # ADD_DEV keeps the flag, GET_FEATURES reports it
    s = sub(s, "\t\t| UBLK_F_ZONED)\n",
            "\t\t| UBLK_F_ZONED \\\n\t\t| UBLK_F_SHMEM_ZC)\n", "UBLK_F_ALL")

    s = sub(s, "\tstruct work_struct\tstop_work;\n};\n",
            "\tstruct work_struct\tstop_work;\n\n"
            "\tstruct bublk_shm\tshm;\t/* UBLK_F_SHMEM_ZC buffers */\n};\n",
            "struct ublk_device")

    # no copy in either direction for a matched request
    for fn in ("ublk_map_io(const struct ublk_queue *ubq, const struct request *req,\n\t\tstruct ublk_io *io)",
               "ublk_unmap_io(const struct ublk_queue *ubq,\n\t\tconst struct request *req,\n\t\tstruct ublk_io *io)"):
        old = ("static int " + fn + "\n{\n"
               "\tconst unsigned int rq_bytes = blk_rq_bytes(req);\n\n")
        s = sub(s, old, old + "\tif (bublk_shm_req_is_zc(ubq, req))\n"
                "\t\treturn rq_bytes;\n\n", fn.split("(")[0])

    # ... and no NEED_GET_DATA round trip for it either
    s = sub(s, "\tif (ublk_need_get_data(ubq) && ublk_need_map_req(req)) {\n",
            "\tif (ublk_need_get_data(ubq) && ublk_need_map_req(req) &&\n"
            "\t    !bublk_shm_req_is_zc(ubq, req)) {\n", "need_get_data")

    # the implementation, where the driver's helpers are visible
    s = sub(s, "static blk_status_t ublk_setup_iod(struct ublk_queue *ubq, struct request *req)\n{",
            "#include \"bublk_shmem.c\"\n\n"
            "static blk_status_t ublk_setup_iod(struct ublk_queue *ubq, struct request *req)\n{",
            "ublk_setup_iod")

    # match at dispatch, once the descriptor holds the normal values
    s = sub(s, "\tiod->addr = io->addr;\n\n\treturn BLK_STS_OK;\n}\n\n"
            "static inline struct ublk_uring_cmd_pdu",
            "\tiod->addr = io->addr;\n\tbublk_shm_setup_iod(ubq, req, iod);\n\n"
            "\treturn BLK_STS_OK;\n}\n\nstatic inline struct ublk_uring_cmd_pdu",
            "setup_iod hook")

    s = sub(s, "\tmutex_init(&ub->mutex);\n",
            "\tmutex_init(&ub->mutex);\n\tbublk_shm_init(ub);\n", "add_dev init")

    # everything unpinned when the device is released
    # (before the device number goes: DEL_DEV returns once it is free)
    s = sub(s, "\tublk_deinit_queues(ub);\n\tublk_free_dev_number(ub);\n\tmutex_destroy(&ub->mutex);\n",
            "\tublk_deinit_queues(ub);\n\tbublk_shm_release(ub);\n"
            "\tublk_free_dev_number(ub);\n\tmutex_destroy(&ub->mutex);\n", "ublk_cdev_rel")

    s = sub(s, "\tcase UBLK_CMD_END_USER_RECOVERY:\n\t\tret = ublk_ctrl_end_recovery(ub, cmd);\n\t\tbreak;\n",
            "\tcase UBLK_CMD_END_USER_RECOVERY:\n\t\tret = ublk_ctrl_end_recovery(ub, cmd);\n\t\tbreak;\n"
            "\tcase UBLK_CMD_REG_BUF:\n\t\tret = bublk_ctrl_reg_buf(ub, cmd);\n\t\tbreak;\n"
            "\tcase UBLK_CMD_UNREG_BUF:\n\t\tret = bublk_ctrl_unreg_buf(ub, cmd);\n\t\tbreak;\n",
            "control commands")

    # the hook's registration failing must not take the driver down
    s = sub(s, "\tinit_waitqueue_head(&ublk_idr_wq);\n",
            "\tinit_waitqueue_head(&ublk_idr_wq);\n\tbublk_sg_register();\n",
            "ublk_init")

    s = sub(s, 'MODULE_DESCRIPTION("Userspace block device");',
            'MODULE_DESCRIPTION("Userspace block device (bublk test build: '
            'SHMEM_ZC + sg hook)");', "MODULE_DESCRIPTION")

    open(sys.argv[2], "w").write(s)


if __name__ == "__main__":
    main()
