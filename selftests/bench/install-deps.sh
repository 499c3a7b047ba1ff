#!/bin/bash
# What make bench needs beyond make test's packages (Debian): gnuplot for
# the plots, jq to read fio's JSON in the guest, python3 for the report,
# dpkg-dev to unpack Debian's liburing source for kublk (build-kublk.sh),
# nbd-client for the kernel's NBD client that the nbd group compares with.
exec bash "$(dirname "$0")/../install-deps.sh" gnuplot-nox jq python3 dpkg-dev nbd-client
