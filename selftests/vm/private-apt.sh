# SPDX-License-Identifier: GPL-2.0
#
# private-apt.sh - sourced by selftests/vm/build-kernel.sh and
# selftests/bench/build-kublk.sh: apt through a private configuration
# under a directory of the build tree, never the machine's.
#
#   private_apt DIR SOURCE...
#
# Sets up DIR (its own sources list, lists, cache and an empty dpkg status)
# and fills the array APT_OPTS for apt-get/apt-cache. Each SOURCE is
# "deb SUITE" or "deb-src SUITE": a line of DIR's sources list for the main
# Debian archive, whose address is taken from the machine's own apt sources
# (whatever their format). The machine's apt sources are never changed and
# nothing is installed: with these options packages are only resolved and
# downloaded. The lists are refreshed when missing or older than a day
# (quietly: the cached case prints nothing); DIR/update.log keeps apt's say.
# The caller provides msg and die.

# The main Debian archive's address, from the machine's own apt sources:
# the index target labelled "Debian".
debian_archive() {
	apt-get indextargets --format '$(LABEL) $(REPO_URI)' 2>/dev/null |
		awk '$1 == "Debian" { print $2; exit }'
}

private_apt() {
	local dir=$1 uri src want keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	shift
	mkdir -p "$dir"/{etc/sources.list.d,etc/preferences.d,etc/apt.conf.d} \
		"$dir"/lists/partial "$dir"/cache/archives/partial
	[ -e "$dir/status" ] || : >"$dir/status"
	APT_OPTS=(-o Dir::Etc="$dir/etc"
		-o Dir::Etc::SourceList="$dir/etc/sources.list"
		-o Dir::Etc::SourceParts="$dir/etc/sources.list.d"
		-o Dir::Etc::Preferences="$dir/etc/preferences"
		-o Dir::Etc::PreferencesParts="$dir/etc/preferences.d"
		-o Dir::Etc::Parts="$dir/etc/apt.conf.d"
		-o Dir::State::Lists="$dir/lists"
		-o Dir::State::status="$dir/status"
		-o Dir::Cache="$dir/cache"
		-o APT::Architecture=amd64 -o Acquire::Languages=none)
	if [ ! -s "$dir/etc/sources.list" ]; then
		uri=$(debian_archive)
		[ -n "$uri" ] || die "no Debian archive in this machine's apt sources (apt-get indextargets)"
		[ -r "$keyring" ] || die "$keyring missing (install debian-archive-keyring)"
		want=""
		for src in "$@"; do
			want+="${src%% *} [signed-by=$keyring] $uri ${src#* } main"$'\n'
		done
		printf '%s' "$want" >"$dir/etc/sources.list"
	fi
	if [ -z "$(find "$dir/lists" -maxdepth 1 -name '*_Packages' -mmin -1440 2>/dev/null)" ]; then
		apt-get "${APT_OPTS[@]}" -qq update >"$dir/update.log" 2>&1 ||
			msg "apt-get update of $* failed (see $dir/update.log)"
	fi
}
