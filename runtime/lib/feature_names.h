/* SPDX-License-Identifier: MIT */
#ifndef BUBLK_FEATURE_NAMES_H
#define BUBLK_FEATURE_NAMES_H

/* upstream name of UBLK_F_* bit, or NULL for a bit bublk does not know */
const char *bublk_feature_name(unsigned int bit);

#endif
